"""GenerationStats on the scripted backend with a known token delay, and the stats session."""

from __future__ import annotations

import pytest

import lmstream
from lmstream import StopReason
from lmstream_observers import StatsObserver, default_session

DELAY = 0.02
WORDS = 15


def reply_words(n: int) -> str:
    return " ".join(f"w{i}" for i in range(n))


@pytest.fixture
def timed(scripted):
    """A context whose reply is WORDS word-tokens, each DELAY seconds apart (plus EOS)."""
    return scripted(reply_words(WORDS), cut="words", token_delay=DELAY)


def test_timing_fields_match_the_token_delay(timed):
    info = list(lmstream.generate("hi", context=timed))[-1]
    stats = info.stats
    assert info.stop_reason is StopReason.STOP
    assert stats.generated_tokens == WORDS + 1  # the EOS counts
    assert stats.context_size == stats.prompt_tokens + stats.cached_prompt_tokens + WORDS + 1
    # the first token comes one delay after the (instant) prefill
    assert DELAY * 0.9 <= stats.ttft_s <= DELAY + 0.1
    assert stats.prefill_s < stats.ttft_s
    # n tokens after the first, each one delay apart: decode ~= (n-1) delays, tok/s ~= 1/delay
    assert DELAY * WORDS * 0.95 <= stats.decode_s <= DELAY * WORDS + 0.25
    assert 0.6 / DELAY <= stats.decode_tps <= 1.05 / DELAY
    assert 0.6 / DELAY <= stats.steady_decode_tps <= 1.05 / DELAY  # 16 tokens: from token 11 on
    assert DELAY * 0.9 <= stats.itl_p50_s <= stats.itl_p95_s <= stats.itl_p99_s
    assert stats.itl_p50_s <= DELAY + 0.05
    assert stats.prompt_tokens > 0 and stats.prefill_tps > 0
    assert stats.total_s >= stats.ttft_s + stats.decode_s * 0.99


def test_steady_rate_needs_twelve_tokens(scripted):
    info = list(lmstream.generate("hi", context=scripted(reply_words(5), cut="words")))[-1]
    assert info.generated_tokens == 6
    assert info.stats.steady_decode_tps == 0.0


def test_memory_is_unknown_on_the_scripted_backend(timed):
    stats = list(lmstream.generate("hi", context=timed, parameters={"max_tokens": 2}))[-1].stats
    memory = (stats.baseline_bytes, stats.peak_bytes, stats.after_prefill_bytes, stats.after_decode_bytes,
              stats.weights_bytes, stats.kv_cache_allocated_bytes, stats.kv_cache_used_bytes)
    assert memory == (None,) * 7


def test_cached_prompt_tokens_are_counted_apart(scripted):
    context = scripted("answer", cut="words")
    cache = context.new_cache()
    session = StatsObserver()
    first = context.generate("the same long prompt", cache=cache, observers=[session]).info
    second = context.generate("the same long prompt, continued", cache=cache, observers=[session]).info
    assert first.cached_prompt_tokens == 0
    assert second.cached_prompt_tokens > 0
    summary = session.snapshot()
    assert summary.cached_prompt_tokens == second.cached_prompt_tokens
    assert summary.prompt_tokens == first.prompt_tokens + second.prompt_tokens


def test_session_aggregates_across_generations(timed, scripted):
    session = StatsObserver()
    infos = [list(lmstream.generate("hi", context=timed, observers=[session]))[-1] for _ in range(2)]
    infos.append(list(lmstream.generate("hi", context=timed, observers=[session],
                                        parameters={"max_tokens": 3}))[-1])
    failing = scripted("abcdef", fail_at=2)
    infos.append(list(lmstream.generate("hi", context=failing, observers=[session]))[-1])
    summary = session.snapshot()
    assert summary.generations == 4
    assert summary.by_stop_reason == {"stop": 2, "length": 1, "error": 1}
    assert summary.generated_tokens == sum(i.generated_tokens for i in infos)
    assert summary.prompt_tokens == sum(i.prompt_tokens for i in infos)
    assert summary.last_info is infos[-1] and session.last_info is infos[-1]
    assert 0.6 / DELAY <= summary.mean_decode_tps <= 1.05 / DELAY
    assert summary.last_decode_tps == infos[-1].stats.decode_tps
    produced = [i.ttft_s for i in infos if i.generated_tokens]
    assert summary.mean_ttft_s == pytest.approx(sum(produced) / len(produced))
    assert summary.last_ttft_s == infos[-1].ttft_s
    session.reset()
    assert session.snapshot().generations == 0 and session.last_info is None


def test_the_stats_name_is_the_process_wide_session(scripted):
    session = default_session()
    before = session.snapshot().generations
    context = scripted("abc")
    context.generate("hi", observers=["stats"])
    context.generate("hi", observers=["stats"])
    assert session.snapshot().generations == before + 2
    assert lmstream.get_plugin_system().observers.get("stats")() is session


def test_stats_observer_costs_nothing_per_token(scripted, plugin_system):
    from lmstream.hooks import GenerationRecord, ObserverSet

    context = scripted("abc")
    record = GenerationRecord(model=context.info, parameters=lmstream.GenerationParameters(), prompt_tokens=1)
    observers = ObserverSet(record, plugin_system, ["stats", "log", "jsonl"])
    assert not observers.wants_events  # the hot loop skips event callbacks entirely


def test_format_block_needs_a_generation():
    with pytest.raises(LookupError, match="no generation"):
        StatsObserver().format_block()
