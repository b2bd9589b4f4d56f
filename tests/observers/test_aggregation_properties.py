"""Property tests: the stats session's figures are the sums and means of what it was fed."""

from __future__ import annotations

import threading

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from lmstream import GenerationStats, Info, StopReason
from lmstream_observers import StatsObserver

stats_strategy = st.builds(
    GenerationStats,
    prompt_tokens=st.integers(0, 10_000),
    cached_prompt_tokens=st.integers(0, 10_000),
    generated_tokens=st.integers(0, 2_000),
    prefill_s=st.floats(0, 100, allow_nan=False),
    decode_s=st.floats(0, 100, allow_nan=False),
    ttft_s=st.floats(0, 100, allow_nan=False),
    decode_tps=st.floats(0, 10_000, allow_nan=False),
)
info_strategy = st.builds(Info, stop_reason=st.sampled_from(list(StopReason)), stats=stats_strategy)


@settings(max_examples=60, deadline=None)
@given(st.lists(info_strategy, max_size=30))
def test_session_figures_are_sums_and_means(infos):
    session = StatsObserver()
    for info in infos:
        session.add(info)
    summary = session.snapshot()
    assert summary.generations == len(infos)
    for reason in StopReason:
        assert summary.by_stop_reason.get(str(reason), 0) == sum(i.stop_reason is reason for i in infos)
    assert summary.prompt_tokens == sum(i.stats.prompt_tokens for i in infos)
    assert summary.cached_prompt_tokens == sum(i.stats.cached_prompt_tokens for i in infos)
    assert summary.generated_tokens == sum(i.stats.generated_tokens for i in infos)
    decoding = [i.stats for i in infos if i.stats.decode_s > 0 and i.stats.generated_tokens > 1]
    decode_s = sum(s.decode_s for s in decoding)
    expected_tps = sum(s.generated_tokens - 1 for s in decoding) / decode_s if decode_s > 0 else 0.0
    assert summary.mean_decode_tps == pytest.approx(expected_tps)
    ttfts = [i.stats.ttft_s for i in infos if i.stats.generated_tokens > 0]
    assert summary.mean_ttft_s == pytest.approx(sum(ttfts) / len(ttfts) if ttfts else 0.0)
    assert summary.last_info is (infos[-1] if infos else None)


def test_concurrent_adds_lose_nothing():
    session = StatsObserver()
    info = Info(StopReason.STOP, GenerationStats(prompt_tokens=3, generated_tokens=5, decode_s=1.0))
    barrier = threading.Barrier(8)

    def feed() -> None:
        barrier.wait()
        for _ in range(500):
            session.add(info)

    threads = [threading.Thread(target=feed) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    summary = session.snapshot()
    assert summary.generations == 4000
    assert summary.generated_tokens == 20_000 and summary.prompt_tokens == 12_000
