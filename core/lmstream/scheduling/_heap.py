"""Give freed heap memory back to the system after the prefix cache dropped entries.

An entry is a large buffer (llama.cpp's saved state, mlx's layer arrays), allocated with
``malloc``. glibc raises its mmap threshold after the first such buffer is freed, so later
ones come from the heap, and a freed one in the middle of the heap stays resident: the
process's RSS would keep the high-water mark of every entry ever held instead of following
the budget. ``malloc_trim(0)`` hands the free pages back (``MADV_DONTNEED``); elsewhere
(no glibc) this does nothing.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import logging
from collections.abc import Callable

logger = logging.getLogger("lmstream.scheduler")


def _load() -> Callable[[int], int] | None:
    try:
        name = ctypes.util.find_library("c")
        if name is None:
            return None
        trim = ctypes.CDLL(name).malloc_trim
    except (OSError, AttributeError):
        return None
    trim.argtypes = [ctypes.c_size_t]
    trim.restype = ctypes.c_int
    return trim  # type: ignore[no-any-return]


_TRIM = _load()


def release_free_memory() -> None:
    """Return the heap's free pages to the system (glibc only; a few milliseconds at most)."""
    if _TRIM is not None:
        try:
            _TRIM(0)
        except Exception:  # never let a memory hint break a generation's end
            logger.debug("malloc_trim failed", exc_info=True)
