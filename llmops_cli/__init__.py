"""The ``llmops`` command: the only code that sees the spec, the compiler and the runners."""
