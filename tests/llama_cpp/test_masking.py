"""lmstream_llama_cpp.masking: constraint masks written into a logits row in place, and the
advance-then-mask order of a decode step (numpy only: runs without llama.cpp)."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from lmstream.pipeline._constraints import ConstraintError
from lmstream_llama_cpp.masking import constrain_logits, mask_logits

NEG = -np.inf


class FakeConstraint:
    """Allows the tokens in ``allowed`` (a bool row); records every call in order."""

    def __init__(self, allowed: np.ndarray | None, reject: int | None = None) -> None:
        self.allowed = allowed
        self.reject = reject
        self.calls: list[tuple[str, int | None]] = []

    def advance(self, token: int) -> None:
        self.calls.append(("advance", token))
        if token == self.reject:
            raise ConstraintError(f"token {token} violates the structured-output constraint")

    def mask(self) -> np.ndarray | None:
        self.calls.append(("mask", None))
        return self.allowed


def test_forbidden_entries_become_minus_inf_in_place() -> None:
    buffer = np.arange(12, dtype=np.float32).reshape(2, 6)  # a context's logits, two outputs
    row = buffer[1]  # a view, as llama_get_logits_ith gives
    mask_logits(row, np.array([True, False, True, False, True, True]))
    assert buffer[1].tolist() == [6.0, NEG, 8.0, NEG, 10.0, 11.0]
    assert buffer[0].tolist() == [0.0, 1.0, 2.0, 3.0, 4.0, 5.0]  # the other output is untouched


def test_a_shorter_mask_forbids_the_tail_and_none_changes_nothing() -> None:
    row = np.zeros(6, dtype=np.float32)
    mask_logits(row, None)
    assert row.tolist() == [0.0] * 6
    mask_logits(row, np.array([False, True, True]))
    assert row.tolist() == [NEG, 0.0, 0.0, NEG, NEG, NEG]


def test_a_longer_mask_is_cut_to_the_row() -> None:
    row = np.ones(3, dtype=np.float32)
    mask_logits(row, np.array([True, False, True, False, False]))
    assert row.tolist() == [1.0, NEG, 1.0]


@given(logits=arrays(np.float32, st.integers(1, 64), elements=st.floats(-50, 50, width=32)),
       allowed=arrays(np.bool_, st.integers(0, 80)))
def test_masking_equals_a_where_over_the_padded_mask(logits: np.ndarray, allowed: np.ndarray) -> None:
    padded = np.zeros(len(logits), dtype=np.bool_)
    width = min(len(allowed), len(logits))
    padded[:width] = allowed[:width]
    expected = np.where(padded, logits, np.float32(NEG))
    row = logits.copy()
    mask_logits(row, allowed)
    assert row.dtype == np.float32
    np.testing.assert_array_equal(row, expected)


def test_the_first_step_masks_without_advancing_later_steps_advance_first() -> None:
    allowed = np.array([False, True, False, True])
    constraint = FakeConstraint(allowed)
    first = np.zeros(4, dtype=np.float32)
    constrain_logits(first, constraint, None)  # the prompt's last token was fed: no advance
    assert constraint.calls == [("mask", None)]
    assert first.tolist() == [NEG, 0.0, NEG, 0.0]
    later = np.zeros(4, dtype=np.float32)
    constrain_logits(later, constraint, 3)  # the token sampled before was fed
    assert constraint.calls == [("mask", None), ("advance", 3), ("mask", None)]
    assert later.tolist() == [NEG, 0.0, NEG, 0.0]


def test_an_unconstrained_step_leaves_the_logits_and_errors_propagate() -> None:
    free = FakeConstraint(None)
    row = np.full(3, 2.0, dtype=np.float32)
    constrain_logits(row, free, 1)
    assert row.tolist() == [2.0, 2.0, 2.0] and free.calls == [("advance", 1), ("mask", None)]
    strict = FakeConstraint(np.ones(3, dtype=np.bool_), reject=2)
    with pytest.raises(ConstraintError, match="token 2"):
        constrain_logits(row, strict, 2)
    assert strict.calls == [("advance", 2)]  # no mask is asked after a rejected token
