"""The [STATS] block: one figure per line, memory lines only where known."""

from __future__ import annotations

import dataclasses

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import lmstream
from lmstream import GenerationStats, Info, StopReason
from lmstream_observers import format_session_summary, format_stats_block
from lmstream_observers.formatting import MEMORY_FIELDS, size

LABELS = ["prompt", "generated", "context", "ttft", "prefill", "decode", "decode (steady)", "itl p50/p95/p99"]


def labels(block: str) -> list[str]:
    return [line.split(":", 1)[0] for line in block.splitlines()[1:]]


def test_block_of_a_real_generation(scripted):
    info = list(lmstream.generate("hi", context=scripted("Hello there", cut="words", token_delay=0.01)))[-1]
    block = format_stats_block(info)
    lines = block.splitlines()
    assert lines[0] == "[STATS]"
    assert labels(block) == ["stop reason", *LABELS]  # scripted: no memory lines
    text = dict(line.split(":", 1) for line in lines[1:])
    assert text["stop reason"].strip() == "stop"
    prompt = info.stats.prompt_tokens
    assert text["prompt"].strip() == f"{prompt} tokens ({prompt} prefilled, 0 cached)"
    assert text["generated"].strip() == "3 tokens"
    assert text["decode"].strip().endswith(f"{info.stats.decode_tps:.1f} tok/s")
    assert "n/a" in text["decode (steady)"]
    assert text["itl p50/p95/p99"].count(" / ") == 2


def test_block_of_stats_has_no_stop_reason():
    assert labels(format_stats_block(GenerationStats())) == LABELS


def test_failed_generation_shows_the_error():
    info = Info(StopReason.ERROR, GenerationStats(), RuntimeError("the GPU caught fire"))
    block = format_stats_block(info)
    assert "error:" in block and "RuntimeError: the GPU caught fire" in block


def test_memory_lines_appear_only_where_known():
    stats = GenerationStats(peak_bytes=3 * 2**30, kv_cache_used_bytes=1536 * 1024)
    block = format_stats_block(stats)
    assert labels(block) == [*LABELS, "memory (peak)", "kv cache (used)"]
    assert "3.00 GiB" in block and "1.50 MiB" in block


def test_units():
    assert size(512) == "512 B"
    assert size(2048) == "2.00 KiB"
    assert size(5 * 2**40) == "5120.00 GiB"
    block = format_stats_block(GenerationStats(ttft_s=1.5, prefill_s=0.25, prefill_tps=400.0,
                                               steady_decode_tps=42.25))
    assert "1.500 s" in block and "250.0 ms, 400.0 tok/s" in block and "42.2 tok/s" in block


def test_rejects_other_values():
    with pytest.raises(TypeError, match="Info or GenerationStats"):
        format_stats_block({"ttft_s": 1.0})  # type: ignore[arg-type]


memory_values = st.one_of(st.none(), st.integers(0, 2**45))


@settings(max_examples=80, deadline=None)
@given(st.fixed_dictionaries({name: memory_values for name, _ in MEMORY_FIELDS}),
       st.floats(0, 1e4, allow_nan=False), st.integers(0, 10**6))
def test_every_known_figure_gets_exactly_one_line(memory, seconds, tokens):
    stats = dataclasses.replace(GenerationStats(), ttft_s=seconds, decode_s=seconds,
                                generated_tokens=tokens, **memory)
    block = format_stats_block(stats)
    expected_memory = [label for name, label in MEMORY_FIELDS if memory[name] is not None]
    assert labels(block) == [*LABELS, *expected_memory]
    assert all(":" in line for line in block.splitlines()[1:])


def test_session_summary(scripted):
    from lmstream_observers import StatsObserver

    session = StatsObserver()
    assert format_session_summary(session.snapshot()) == "[SESSION]\ngenerations:            0"
    context = scripted("abc")
    context.generate("hi", observers=[session])
    context.generate("hi", observers=[session], max_tokens=1)
    summary = session.format_summary()
    assert "2 (length 1, stop 1)" in summary
    assert summary.splitlines()[0] == "[SESSION]"
