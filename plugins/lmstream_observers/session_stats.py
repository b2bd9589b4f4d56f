"""``SessionStats``: a snapshot of the running figures the ``stats`` observer keeps.

Its own module so that the observer (``session``) and the text blocks (``formatting``) both
import it and neither imports the other.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from lmstream import Info


@dataclass(frozen=True)
class SessionStats:
    """A snapshot of a StatsObserver's running figures."""

    generations: int = 0
    by_stop_reason: dict[str, int] = field(default_factory=dict)
    """Generations by stop reason (``"stop"``, ``"length"``, ``"cancelled"``, ``"error"``)."""
    prompt_tokens: int = 0
    """Prompt tokens prefilled, summed over the generations."""
    cached_prompt_tokens: int = 0
    """Prompt tokens reused from prompt caches, summed."""
    generated_tokens: int = 0
    prefill_s: float = 0.0
    decode_s: float = 0.0
    mean_decode_tps: float = 0.0
    """Decode tokens per second over all decode time (tokens after the first / decode seconds)."""
    last_decode_tps: float = 0.0
    mean_ttft_s: float = 0.0
    """Mean time to first token over the generations that produced a token."""
    last_ttft_s: float = 0.0
    last_info: Info | None = None
    """The Info of the generation that ended last."""
