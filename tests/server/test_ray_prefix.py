"""Routing keys of prompts (lmstream_server.ray.prefix): equal exactly on shared full blocks."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from lmstream_server.ray.prefix import prefix_keys, routing_cache_key

tokens = st.lists(st.integers(min_value=0, max_value=2**40), max_size=120)


@given(tokens, tokens, st.integers(min_value=1, max_value=20))
def test_keys_agree_exactly_on_the_shared_full_blocks(a: list[int], b: list[int], block: int) -> None:
    shared = 0
    while shared < min(len(a), len(b)) and a[shared] == b[shared]:
        shared += 1
    keys_a, keys_b = prefix_keys(a, block), prefix_keys(b, block)
    assert len(keys_a) == len(a) // block and len(keys_b) == len(b) // block
    common = sum(1 for x, y in zip(keys_a, keys_b, strict=False) if x == y)
    assert common == min(shared // block, len(keys_a), len(keys_b))


def test_keys_are_bounded_and_arguments_checked() -> None:
    assert len(prefix_keys(list(range(10_000)), 4, max_keys=7)) == 7
    assert prefix_keys([1, 2, 3], 4) == ()
    with pytest.raises(ValueError, match="block"):
        prefix_keys([1], 0)


@given(st.text(min_size=1, max_size=2000), st.text(min_size=1, max_size=2000))
def test_a_prompt_cache_key_is_a_fixed_size_key_of_its_own(a: str, b: str) -> None:
    key_a, key_b = routing_cache_key({"prompt_cache_key": a}), routing_cache_key({"prompt_cache_key": b})
    assert key_a is not None and key_b is not None and len(key_a) == len(key_b) == 28
    assert (key_a == key_b) == (a == b)
    assert key_a not in prefix_keys(list(range(64)))  # never one of the block keys


def test_no_usable_prompt_cache_key_means_none() -> None:
    for metadata in ({}, {"prompt_cache_key": ""}, {"prompt_cache_key": 7}, {"prompt_cache_key": None}):
        assert routing_cache_key(metadata) is None
