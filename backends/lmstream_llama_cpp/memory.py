"""Process memory figures for GenerationStats (llama.cpp keeps its buffers outside Python).

llama.cpp has no allocation counters like mlx's, so the backend reports the resident set
size (RSS) at the start, after prefill and at the end of a generation, and the largest of
those samples as the peak. Weights and KV figures come from llama.cpp itself.
"""

from __future__ import annotations

import os
from collections.abc import Mapping

_KEYS = ("baseline_bytes", "after_prefill_bytes", "after_decode_bytes")


def rss_bytes() -> int | None:
    """This process's resident memory now (Linux ``/proc``); None where it cannot be read."""
    try:
        with open("/proc/self/statm", encoding="ascii") as statm:
            pages = int(statm.read().split()[1])
    except (OSError, ValueError, IndexError):
        return None
    return pages * os.sysconf("SC_PAGE_SIZE")


def peak_of(figures: Mapping[str, int | None]) -> int | None:
    """The largest RSS sample of one generation (None when none was taken)."""
    samples = [v for k in _KEYS if (v := figures.get(k)) is not None]
    return max(samples) if samples else None
