"""Exit codes of the command line, and the error for bad arguments argparse cannot catch."""

from __future__ import annotations

OK = 0
FAILED = 1
"""The model failed to load or the generation failed (the error is printed on stderr)."""
USAGE = 2
"""Bad arguments or input: nothing was generated."""
INTERRUPTED = 130
"""Ctrl-C: the generation was cancelled cleanly (128 + SIGINT, as shells report it)."""


class UsageError(Exception):
    """A bad argument found after parsing (empty prompt, conflicting options, ...)."""
