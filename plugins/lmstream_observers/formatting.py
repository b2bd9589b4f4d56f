"""Human-readable figures: the ``[STATS]`` block and the session summary.

One figure per line, so the block reads well in a terminal and greps well in logs. Memory
lines appear only where the backend could tell (the scripted backend knows none).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from lmstream import GenerationStats, Info

if TYPE_CHECKING:
    from .session import SessionStats

MEMORY_FIELDS: tuple[tuple[str, str], ...] = (
    ("baseline_bytes", "memory (baseline)"),
    ("peak_bytes", "memory (peak)"),
    ("after_prefill_bytes", "memory (after prefill)"),
    ("after_decode_bytes", "memory (after decode)"),
    ("weights_bytes", "weights"),
    ("kv_cache_allocated_bytes", "kv cache (allocated)"),
    ("kv_cache_used_bytes", "kv cache (used)"),
)
"""GenerationStats memory fields and their labels in the [STATS] block, in print order."""

MEMORY_NOTES: dict[str, str] = {
    "baseline_bytes": "in use when this generation started",
    "peak_bytes": "the most in use during this generation, as the backend counts it (mlx: its arrays, "
                  "weights included, float32 copies not; llama.cpp: the largest process RSS sample)",
    "after_prefill_bytes": "in use once the prompt was processed",
    "after_decode_bytes": "in use at the end of this generation",
    "weights_bytes": "the model's parameters as held in memory, float32 copies made for speed included "
                     "(so it can exceed the file size and the peak)",
    "kv_cache_allocated_bytes": "reserved for the KV cache",
    "kv_cache_used_bytes": "the part of the KV cache this generation filled",
}
"""What each memory line counts, printed after its figure so that the block explains itself."""

LABEL_WIDTH = 24


def duration(seconds: float) -> str:
    """``12.3 ms`` below a second, ``1.234 s`` above."""
    if seconds < 1.0:
        return f"{seconds * 1000:.1f} ms"
    return f"{seconds:.3f} s"


def rate(tokens_per_second: float) -> str:
    """``96.7 tok/s``."""
    return f"{tokens_per_second:.1f} tok/s"


def size(num_bytes: int) -> str:
    """Bytes in binary units: ``512 B``, ``1.50 MiB``, ``2.25 GiB``."""
    value = float(num_bytes)
    for unit in ("B", "KiB", "MiB", "GiB"):
        if abs(value) < 1024 or unit == "GiB":
            return f"{num_bytes} B" if unit == "B" else f"{value:.2f} {unit}"
        value /= 1024
    raise AssertionError("unreachable")


def _line(label: str, value: str) -> str:
    return f"{label + ':':<{LABEL_WIDTH}}{value}"


_CACHE_SOURCES: dict[str | None, str] = {"prefix_cache": " from the prefix cache", "cache": " from the caller's cache"}
"""How the [STATS] prompt line names where reused prompt tokens came from."""


def stats_lines(stats: GenerationStats) -> list[str]:
    """The figure lines of a [STATS] block (no header)."""
    prompt_total = stats.prompt_tokens + stats.cached_prompt_tokens
    steady = (rate(stats.steady_decode_tps) if stats.steady_decode_tps > 0
              else "n/a (needs 12 or more tokens)")
    lines = [
        _line("prompt", f"{prompt_total} tokens ({stats.prompt_tokens} prefilled, "
                        f"{stats.cached_prompt_tokens} cached{_CACHE_SOURCES.get(stats.cache_source, '')})"),
        _line("generated", f"{stats.generated_tokens} tokens"),
        _line("context", f"{stats.context_size} tokens"),
        _line("ttft", duration(stats.ttft_s)),
        _line("prefill", f"{duration(stats.prefill_s)}, {rate(stats.prefill_tps)}"),
        _line("decode", f"{duration(stats.decode_s)}, {rate(stats.decode_tps)}"),
        _line("decode (steady)", steady),
        _line("itl p50/p95/p99", " / ".join(duration(s) for s in
                                             (stats.itl_p50_s, stats.itl_p95_s, stats.itl_p99_s))),
    ]
    if stats.draft_tokens_proposed:  # speculative decoding ran
        accepted = stats.draft_tokens_accepted
        lines.append(_line("draft tokens", f"{accepted} of {stats.draft_tokens_proposed} accepted "
                                           f"({accepted / stats.draft_tokens_proposed:.0%})"))
    for field_name, label in MEMORY_FIELDS:
        value = getattr(stats, field_name)
        if value is not None:
            lines.append(_line(label, f"{size(value)} ({MEMORY_NOTES[field_name]})"))
    return lines


def format_stats_block(info_or_stats: Info | GenerationStats) -> str:
    """The ``[STATS]`` block of one generation (what ``lmstream generate --stats`` prints).

    Given an ``Info``, the block also says why the generation stopped (and the error, if any).
    """
    if isinstance(info_or_stats, Info):
        stats = info_or_stats.stats
        head = [_line("stop reason", str(info_or_stats.stop_reason))]
        if info_or_stats.error is not None:
            error = info_or_stats.error
            head.append(_line("error", f"{type(error).__name__}: {error}"))
    elif isinstance(info_or_stats, GenerationStats):
        stats, head = info_or_stats, []
    else:
        raise TypeError(f"format_stats_block needs an Info or GenerationStats, "
                        f"not {type(info_or_stats).__name__}")
    return "\n".join(["[STATS]", *head, *stats_lines(stats)])


def format_session_summary(summary: SessionStats) -> str:
    """The ``[SESSION]`` block: running figures across the generations a StatsObserver saw."""
    if summary.generations == 0:
        return "[SESSION]\n" + _line("generations", "0")
    reasons = ", ".join(f"{reason} {count}" for reason, count in sorted(summary.by_stop_reason.items()))
    lines = [
        "[SESSION]",
        _line("generations", f"{summary.generations} ({reasons})"),
        _line("prompt tokens", f"{summary.prompt_tokens + summary.cached_prompt_tokens} "
                               f"({summary.prompt_tokens} prefilled, "
                               f"{summary.cached_prompt_tokens} cached)"),
        _line("generated tokens", str(summary.generated_tokens)),
        _line("decode (mean, last)", f"{rate(summary.mean_decode_tps)}, {rate(summary.last_decode_tps)}"),
        _line("ttft (mean, last)", f"{duration(summary.mean_ttft_s)}, {duration(summary.last_ttft_s)}"),
    ]
    return "\n".join(lines)
