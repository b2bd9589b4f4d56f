"""GenerationStats: what one generation cost, carried by the final ``Info`` event."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any


@dataclass(frozen=True, slots=True)
class GenerationStats:
    """Counts, timings and memory of one generation. Memory fields are None when unknown."""

    prompt_tokens: int = 0
    """Prompt tokens prefilled this time."""
    cached_prompt_tokens: int = 0
    """Prompt tokens reused from a prompt cache (not prefilled)."""
    generated_tokens: int = 0
    """Tokens the model generated, a stop token included."""
    context_size: int = 0
    """Tokens in the sequence at the end: prompt (prefilled + cached) + generated."""
    prefill_s: float = 0.0
    """Seconds spent on prefill."""
    decode_s: float = 0.0
    """Seconds from the first generated token to the last."""
    ttft_s: float = 0.0
    """Seconds from the start of the generation to its first token."""
    prefill_tps: float = 0.0
    """Prefilled prompt tokens per second."""
    decode_tps: float = 0.0
    """Generated tokens per second after the first one."""
    steady_decode_tps: float = 0.0
    """Decode tokens per second from token 11 on (warm-up excluded); 0 with < 12 tokens."""
    itl_p50_s: float = 0.0
    """Median inter-token latency."""
    itl_p95_s: float = 0.0
    """95th percentile inter-token latency."""
    itl_p99_s: float = 0.0
    """99th percentile inter-token latency."""
    total_s: float = 0.0
    """Seconds from the start of the generation to its end."""
    baseline_bytes: int | None = None
    peak_bytes: int | None = None
    after_prefill_bytes: int | None = None
    after_decode_bytes: int | None = None
    weights_bytes: int | None = None
    kv_cache_allocated_bytes: int | None = None
    kv_cache_used_bytes: int | None = None
    cache_source: str | None = None
    """Where the cached prompt tokens came from: ``"prefix_cache"`` (the context's prefix cache,
    shared across requests), ``"cache"`` (the caller's own ``cache=``); None when none."""

    draft_tokens_proposed: int = 0
    """Speculative decoding: draft tokens the drafter proposed and the model verified."""
    draft_tokens_accepted: int = 0
    """Speculative decoding: proposed draft tokens the model accepted (each saved a step)."""

    def to_dict(self) -> dict[str, Any]:
        """A plain dict of every field (for JSON output)."""
        return asdict(self)
