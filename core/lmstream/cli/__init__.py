"""The ``lmstream`` command line: ``generate``, ``chat``, ``plugins`` and ``bench``.

``main(argv)`` returns the exit code: 0 ok, 1 failed (model load or generation; the error is
on stderr), 2 bad arguments or input, 130 after Ctrl-C with a clean cancel.
"""

from __future__ import annotations

from .main import main

__all__ = ["main"]
