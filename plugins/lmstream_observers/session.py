"""The ``stats`` observer: running figures across the generations of a session.

The core already computes each generation's GenerationStats (one clock read per token) and
puts them on the final Info; this observer only aggregates them when a generation ends, so it
costs nothing per token.
"""

from __future__ import annotations

import threading
from collections import Counter

from lmstream import GenerationRecord, Info, Observer

from .formatting import format_session_summary, format_stats_block
from .session_stats import SessionStats


class StatsObserver(Observer):
    """Aggregates the Info of every generation it sees; thread-safe, nothing done per token.

    Use one per session (``observers=[my_stats]``); the registered name ``"stats"`` gives the
    process-wide default session (see ``default_session``).
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.reset()

    def reset(self) -> None:
        """Forget every figure (start a new session)."""
        with self._lock:
            self._reasons: Counter[str] = Counter()
            self._prompt = self._cached = self._generated = 0
            self._prefill_s = self._decode_s = 0.0
            self._decode_tokens = 0
            self._ttft_sum = 0.0
            self._ttft_count = 0
            self._last: Info | None = None

    def on_end(self, generation: GenerationRecord, info: Info) -> None:
        """Fold the generation's stats into the running figures."""
        self.add(info)

    def add(self, info: Info) -> None:
        """Fold one final Info into the running figures (what ``on_end`` does)."""
        stats = info.stats
        with self._lock:
            self._reasons[str(info.stop_reason)] += 1
            self._prompt += stats.prompt_tokens
            self._cached += stats.cached_prompt_tokens
            self._generated += stats.generated_tokens
            self._prefill_s += stats.prefill_s
            if stats.decode_s > 0 and stats.generated_tokens > 1:
                self._decode_s += stats.decode_s
                self._decode_tokens += stats.generated_tokens - 1
            if stats.generated_tokens > 0:
                self._ttft_sum += stats.ttft_s
                self._ttft_count += 1
            self._last = info

    @property
    def last_info(self) -> Info | None:
        """The Info of the generation that ended last (None before the first)."""
        return self._last

    def snapshot(self) -> SessionStats:
        """The running figures now, as an immutable SessionStats."""
        with self._lock:
            last = self._last
            return SessionStats(
                generations=sum(self._reasons.values()),
                by_stop_reason=dict(self._reasons),
                prompt_tokens=self._prompt,
                cached_prompt_tokens=self._cached,
                generated_tokens=self._generated,
                prefill_s=self._prefill_s,
                decode_s=self._decode_s,
                mean_decode_tps=self._decode_tokens / self._decode_s if self._decode_s > 0 else 0.0,
                last_decode_tps=last.stats.decode_tps if last is not None else 0.0,
                mean_ttft_s=self._ttft_sum / self._ttft_count if self._ttft_count else 0.0,
                last_ttft_s=last.stats.ttft_s if last is not None else 0.0,
                last_info=last,
            )

    def format_block(self, info: Info | None = None) -> str:
        """The [STATS] block of ``info`` (default: the last generation)."""
        target = info if info is not None else self._last
        if target is None:
            raise LookupError("no generation has ended yet: there are no stats to show")
        return format_stats_block(target)

    def format_summary(self) -> str:
        """The [SESSION] block of the running figures."""
        return format_session_summary(self.snapshot())


_default: StatsObserver | None = None
_default_lock = threading.Lock()


def default_session() -> StatsObserver:
    """The process-wide StatsObserver that the name ``"stats"`` resolves to."""
    global _default
    with _default_lock:
        if _default is None:
            _default = StatsObserver()
        return _default
