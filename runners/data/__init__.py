"""The Dataset step's pieces: readers, transforms, splits and the data report.

Transforms are pure functions from a Table to a Table plus what they did, so they can be
tested on a handful of rows; ``runners.steps.prepare`` strings them together and writes files.
"""
