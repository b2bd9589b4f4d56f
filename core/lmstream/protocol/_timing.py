"""Per-generation timing: token timestamps in, GenerationStats out (cheap: one clock read a token)."""

from __future__ import annotations

import operator
import time
from collections.abc import Mapping

from ._stats import GenerationStats

STEADY_FROM_TOKEN = 11
"""``steady_decode_tps`` counts from this (1-based) token on, skipping warm-up."""


def percentile(sorted_values: list[float], fraction: float) -> float:
    """Nearest-rank percentile of an ascending list (0.0 for an empty one)."""
    if not sorted_values:
        return 0.0
    rank = max(1, round(fraction * len(sorted_values) + 0.4999))
    return sorted_values[min(rank, len(sorted_values)) - 1]


class TimingRecorder:
    """Collects the start time, the end of prefill and one timestamp per generated token."""

    __slots__ = ("start", "token_times")

    def __init__(self) -> None:
        self.start = time.perf_counter()
        self.token_times: list[float] = []

    def build(self, *, prompt_tokens: int, cached_prompt_tokens: int, prefill_end: float | None,
              context_size: int, memory: Mapping[str, int | None] | None = None,
              cache_source: str | None = None, draft_tokens_proposed: int = 0,
              draft_tokens_accepted: int = 0) -> GenerationStats:
        """Derive every timing figure of GenerationStats from what was recorded."""
        end = time.perf_counter()
        times = self.token_times
        generated = len(times)
        ttft = times[0] - self.start if times else 0.0
        prefill_done = prefill_end if prefill_end is not None else (times[0] if times else end)
        prefill_s = max(prefill_done - self.start, 0.0)
        decode_s = times[-1] - times[0] if generated > 1 else 0.0
        decode_tps = (generated - 1) / decode_s if decode_s > 0 else 0.0
        steady_tps = 0.0
        first_steady = STEADY_FROM_TOKEN - 1
        if generated > first_steady + 1:
            span = times[-1] - times[first_steady]
            steady_tps = (generated - 1 - first_steady) / span if span > 0 else 0.0
        gaps = sorted(map(operator.sub, times[1:], times))  # inter-token gaps, at C speed
        memory = memory or {}
        return GenerationStats(
            prompt_tokens=prompt_tokens,
            cached_prompt_tokens=cached_prompt_tokens,
            cache_source=cache_source,
            generated_tokens=generated,
            context_size=context_size,
            prefill_s=prefill_s,
            decode_s=decode_s,
            ttft_s=ttft,
            prefill_tps=prompt_tokens / prefill_s if prefill_s > 0 and prompt_tokens else 0.0,
            decode_tps=decode_tps,
            steady_decode_tps=steady_tps,
            itl_p50_s=percentile(gaps, 0.50),
            itl_p95_s=percentile(gaps, 0.95),
            itl_p99_s=percentile(gaps, 0.99),
            total_s=end - self.start,
            baseline_bytes=memory.get("baseline_bytes"),
            peak_bytes=memory.get("peak_bytes"),
            after_prefill_bytes=memory.get("after_prefill_bytes"),
            after_decode_bytes=memory.get("after_decode_bytes"),
            weights_bytes=memory.get("weights_bytes"),
            kv_cache_allocated_bytes=memory.get("kv_cache_allocated_bytes"),
            kv_cache_used_bytes=memory.get("kv_cache_used_bytes"),
            draft_tokens_proposed=draft_tokens_proposed,
            draft_tokens_accepted=draft_tokens_accepted,
        )
