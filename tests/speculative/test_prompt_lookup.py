"""Prompt lookup: the continuation of the longest recent n-gram match, indexed incrementally
(checked against a brute-force search), and how it drafts on a rewrite task."""

from __future__ import annotations

from collections.abc import Sequence

from hypothesis import given, settings
from hypothesis import strategies as st

from lmstream.protocol import GenerationParameters
from lmstream_drafters import PromptLookupDrafter, PromptLookupState


def _brute_force(tokens: Sequence[int], limit: int, ngram_max: int, ngram_min: int) -> list[int]:
    """The longest suffix (n from ngram_max down) with an earlier occurrence; its latest one's
    continuation."""
    length = len(tokens)
    for n in range(ngram_max, ngram_min - 1, -1):
        if length < n:
            continue
        suffix = list(tokens[length - n:])
        for end in range(length - 1, n - 1, -1):
            if list(tokens[end - n:end]) == suffix:
                return list(tokens[end:end + limit])
    return []


@settings(max_examples=200, deadline=None)
@given(prompt=st.lists(st.integers(0, 4), max_size=30),
       output=st.lists(st.integers(0, 4), max_size=30),
       every=st.integers(1, 4), limit=st.integers(1, 8), ngram_max=st.integers(1, 4),
       ngram_min=st.integers(1, 4))
def test_proposals_match_a_brute_force_search(prompt: list[int], output: list[int], every: int,
                                              limit: int, ngram_max: int, ngram_min: int) -> None:
    ngram_min = min(ngram_min, ngram_max)
    state = PromptLookupDrafter(8, ngram_max, ngram_min).start(prompt, GenerationParameters())
    tokens = list(prompt)
    for i, token in enumerate([*output, -1]):
        if i % every == 0:  # proposals asked at irregular points: the index catches up
            proposal = list(state.propose(tokens, limit))
            assert proposal == _brute_force(tokens, min(limit, 8), ngram_max, ngram_min)
        if token >= 0:
            tokens.append(token)


def test_the_index_grows_by_the_new_tokens_only() -> None:
    state = PromptLookupState(8, 3, 1)
    tokens = list(range(100)) * 3
    state.propose(tokens, 4)
    sizes = sum(len(index) for index in state._ends.values())
    tokens.append(5)
    assert state.propose(tokens, 4) == [6, 7, 8, 9]  # "4 5" seen before, then 6 7 8 9
    assert sum(len(index) for index in state._ends.values()) <= sizes + 3
    assert state._indexed == len(tokens) - 1


def test_nothing_is_proposed_without_a_match() -> None:
    state = PromptLookupState(8, 3, 2)
    assert state.propose([1, 2, 3, 4], 5) == ()
    assert state.propose([1, 2, 3, 4, 1, 2], 0) == ()
    assert state.propose([1, 2, 3, 4, 1, 2], 5) == [3, 4, 1, 2]
