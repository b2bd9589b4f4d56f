"""lmstream.pipeline._constraints.Constraint: the reasoning gate, EOS, errors (a fake digits-only matcher)."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from lmstream.pipeline import Vocabulary
from lmstream.pipeline._constraints import Constraint, ConstraintError
from lmstream_scripted.tokenizer import ScriptedTokenizer

TOKENIZER = ScriptedTokenizer()
EOS = TOKENIZER.eos_token_id
VOCAB = Vocabulary(TOKENIZER, 259, frozenset(TOKENIZER.eos_token_ids),
                   frozenset(TOKENIZER.special_ids.values()))
MARKERS = ("<think>", "</think>")


class Digits:
    """Allows up to ``limit`` ASCII digits, then only EOS; records what it consumed."""

    def __init__(self, limit: int = 3, allow_nothing: bool = False) -> None:
        self.consumed: list[int] = []
        self.limit = limit
        self.allow_nothing = allow_nothing

    def fill_bitmask(self, words: Any) -> None:
        allowed = np.zeros(len(words) * 32, dtype=np.bool_)
        if not self.allow_nothing:
            if len(self.consumed) < self.limit:
                allowed[ord("0"):ord("9") + 1] = True
            if self.consumed:
                allowed[EOS] = True
        words[:] = np.packbits(allowed, bitorder="little").view(np.int32)

    def consume(self, token: int) -> bool:
        self.consumed.append(token)
        return ord("0") <= token <= ord("9")

    def is_accepting(self) -> bool:
        return bool(self.consumed)

    def error(self) -> str | None:
        return "nothing fits" if self.allow_nothing else None


def allowed(constraint: Constraint) -> set[int]:
    mask = constraint.mask()
    assert mask is not None
    return set(np.flatnonzero(mask).tolist())


def test_forced_and_marker_free_constraints_are_active_from_the_first_token() -> None:
    for kwargs in ({"reasoning_markers": MARKERS, "forced": True}, {"reasoning_markers": None}):
        c = Constraint(Digits(), VOCAB, **kwargs)  # type: ignore[arg-type]
        assert c.active and allowed(c) == set(range(48, 58))


def test_opening_allows_the_start_marker_beside_the_constraint_then_reasoning_is_free() -> None:
    matcher = Digits()
    c = Constraint(matcher, VOCAB, reasoning_markers=MARKERS)
    assert allowed(c) == set(range(48, 58)) | {ord("<")}
    for byte in b"<think":
        c.advance(byte)
        assert c.state == "opening"
        assert allowed(c) == {b"<think>"[b"<think>".index(bytes([byte])) + 1]}
    c.advance(ord(">"))
    assert c.state == "reasoning" and allowed(c) == set(range(259)) - {256, 258}  # all but EOS
    for byte in b"free text </thi":
        c.advance(byte)
    assert allowed(c) == set(range(259)) - {256, 258}
    for byte in b"nk>":
        c.advance(byte)
    assert c.active and matcher.consumed == []
    c.advance(ord("7"))
    assert matcher.consumed == [ord("7")]


def test_a_constraint_token_first_means_no_reasoning() -> None:
    c = Constraint(Digits(), VOCAB, reasoning_markers=MARKERS)
    c.mask()
    c.advance(ord("4"))
    assert c.active


def test_a_prompt_that_opened_reasoning_starts_free() -> None:
    c = Constraint(Digits(), VOCAB, reasoning_markers=MARKERS, in_reasoning=True)
    assert allowed(c) == set(range(259)) - set(TOKENIZER.eos_token_ids)
    for byte in b"x</think>":
        c.advance(byte)
    assert c.active


def test_eos_ends_the_constraint_so_pipelined_backends_may_feed_it() -> None:
    c = Constraint(Digits(), VOCAB, reasoning_markers=None)
    c.advance(ord("1"))
    c.advance(EOS)
    assert c.mask() is None
    c.advance(ord("x"))  # ignored once done


def test_unsatisfiable_and_forbidden_tokens_raise_constraint_errors() -> None:
    c = Constraint(Digits(allow_nothing=True), VOCAB, reasoning_markers=None)
    with pytest.raises(ConstraintError, match=r"unsatisfiable.*nothing fits"):
        c.mask()
    c = Constraint(Digits(), VOCAB, reasoning_markers=None)
    with pytest.raises(ConstraintError, match="violates"):
        c.advance(ord("x"))
    c = Constraint(Digits(), VOCAB, reasoning_markers=MARKERS)
    c.mask()
    with pytest.raises(ConstraintError, match="neither allowed"):
        c.advance(ord("x"))
