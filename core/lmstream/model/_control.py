"""What the core hands a backend's token iterator or batch runner for one generation:
cancellation, the token limit, the structured-output constraint, and stats marks."""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Callable
from typing import Any


class GenerationControl:
    """Handed by the core to a backend's token iterator: cancellation, timing and stats marks."""

    __slots__ = (
        "_cancel_event",
        "cache_source",
        "cached_prompt_tokens",
        "constraint",
        "draft_accepted",
        "draft_proposed",
        "max_tokens",
        "memory",
        "on_prefill_progress",
        "prefill_end",
        "prefilled_tokens",
        "progress_tokens",
    )

    def __init__(self, cancel_event: threading.Event,
                 on_prefill_progress: Callable[[int, int], None] | None = None,
                 max_tokens: float = math.inf, constraint: Any = None) -> None:
        self._cancel_event = cancel_event
        self.on_prefill_progress = on_prefill_progress
        self.max_tokens = max_tokens
        """Tokens the core will pull at most (max_tokens capped by the context window)."""
        self.constraint = constraint
        """A structured-output constraint whose token masks the backend applies, or None."""
        self.prefill_end: float | None = None
        self.prefilled_tokens: int | None = None
        self.progress_tokens: int | None = None
        """Prompt tokens prefilled so far (from ``prefill_progress``): what a cancelled prefill did."""
        self.cached_prompt_tokens = 0
        self.cache_source: str | None = None
        """Where reused prompt tokens came from: ``"prefix_cache"`` (the context's cache shared
        across requests) or ``"cache"`` (the caller's own ``cache=``); set by the core."""
        self.memory: dict[str, int | None] = {}
        self.draft_proposed = 0
        """Speculative decoding: draft tokens verified for this generation (set by the core)."""
        self.draft_accepted = 0
        """Of those, the ones the model accepted."""

    @property
    def cancelled(self) -> bool:
        """True once the consumer has cancelled; check it between prefill chunks and tokens."""
        return self._cancel_event.is_set()

    def sleep(self, seconds: float) -> bool:
        """Sleep, waking early on cancel; returns False when cancelled."""
        return not self._cancel_event.wait(seconds) if seconds > 0 else not self.cancelled

    def prefill_progress(self, done: int, total: int) -> None:
        """Report prefill progress (tokens done of total) to whoever listens."""
        self.progress_tokens = done
        if self.on_prefill_progress is not None:
            self.on_prefill_progress(done, total)

    def mark_prefill_done(self, prefilled: int, cached: int) -> None:
        """Record the end of prefill: tokens prefilled now and tokens reused from the cache."""
        self.prefill_end = time.perf_counter()
        self.prefilled_tokens = prefilled
        self.cached_prompt_tokens = cached
