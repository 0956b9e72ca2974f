"""Audit: the apply log's chain, spec history from git, lineage at a moment, reports.

Pure readers: they read files and git objects (through the ``git`` command, never a
checkout) and write nothing but caches in the project's cache folder (``compiler.cache_dir``,
outside the checkout). The apply log's writer is ``runners/apply_log.py``.
"""
