"""The errors a user causes, shared by every stage (the CLI turns them into one line and exit code 2).

Stage-specific errors subclass these where they are raised (``SourceFormatError`` in the sources,
``BenchmarkError`` in the benchmarks, ``MixError`` and its kinds in :mod:`polymix.locks`).
"""

from __future__ import annotations


class ConfigError(ValueError):
    """Bad options; the message lists every problem and the valid values."""
