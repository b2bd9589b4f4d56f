"""LlamaCppPromptCache bookkeeping (no llama.cpp needed): tokens, lazy trims, in-use guard."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from lmstream_llama_cpp.cache import LlamaCppPromptCache
from lmstream_llama_cpp.memory import peak_of, rss_bytes


def test_store_trim_and_reset() -> None:
    cache = LlamaCppPromptCache(engine=None)
    assert cache.tokens == [] and cache.nbytes == 0
    cache.store(b"kv" * 10, [1, 2, 3, 4])
    assert cache.tokens == [1, 2, 3, 4] and cache.nbytes == 20
    assert cache.trim(1) == 1 and cache.tokens == [1, 2, 3]
    cache.trim_to(1)
    assert cache.tokens == [1] and cache.state is not None  # the entries are trimmed on restore
    assert cache.trim(5) == 1 and cache.tokens == [] and cache.state is None
    cache.store(None, [1, 2])  # nothing saved: nothing held
    assert cache.tokens == [] and cache.nbytes == 0


def test_a_running_cache_cannot_be_trimmed() -> None:
    cache = LlamaCppPromptCache(engine=None)
    cache.store(b"x", [1, 2])
    cache.in_use = True
    with pytest.raises(RuntimeError, match="in use"):
        cache.trim(1)


@given(tokens=st.lists(st.integers(0, 50_000), max_size=30),
       trims=st.lists(st.integers(-3, 40), max_size=5))
def test_trims_keep_a_prefix(tokens: list[int], trims: list[int]) -> None:
    cache = LlamaCppPromptCache(engine=None)
    cache.store(b"state", tokens)
    expected = list(tokens)
    for count in trims:
        dropped = cache.trim(count)
        keep = len(expected) - max(min(count, len(expected)), 0)
        assert dropped == len(expected) - keep
        expected = expected[:keep]
        assert cache.tokens == expected
        assert (cache.state is None) == (not expected)


def test_memory_figures() -> None:
    assert peak_of({}) is None
    assert peak_of({"baseline_bytes": 5, "after_prefill_bytes": 9, "after_decode_bytes": None}) == 9
    rss = rss_bytes()
    assert rss is None or rss > 1_000_000
