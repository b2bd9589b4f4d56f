"""Speculative decoding on the scripted model: ``verify`` and a known sampling distribution.

The scripted runner verifies drafts the way a real one does, one position at a time against
its own next token: greedy (the script, or a constrained script) accepts a draft token exactly
when it is the token the script would produce, and the first mismatch is replaced by that
token. With ``distribution=`` and a temperature above 0 each token is instead sampled from a
fixed distribution, and a draft ``x`` is accepted with probability ``p(x)``; on a rejection the
token is sampled from ``p`` without ``x`` (renormalized) — the rejection-sampling rule, so every
position keeps exactly the distribution ``p`` (tests check it statistically).
"""

from __future__ import annotations

import dataclasses
import random
from collections.abc import Iterator, Mapping, Sequence
from typing import TYPE_CHECKING

from lmstream import StepResult

if TYPE_CHECKING:
    from .batch import ScriptedBatchRunner, _Row

MAX_DRAFT_TOKENS = 16
"""Draft tokens the scripted runner verifies per sequence and step."""


class DistributionSource(Iterator[int]):
    """An endless token source sampling ``weights`` (normalized) with its own seeded RNG.

    ``offer(x)`` before a ``next`` makes that draw the rejection-sampling verification of the
    draft token ``x`` (``x`` itself with probability ``p(x)``, else a draw from ``p`` without
    ``x``); a plain ``next`` is an ordinary sample.
    """

    def __init__(self, weights: Mapping[int, float], seed: int | None) -> None:
        total = float(sum(weights.values()))
        if not weights or total <= 0 or any(w < 0 for w in weights.values()):
            raise ValueError("distribution needs non-negative weights with a positive sum")
        self.tokens = list(weights)
        self.probabilities = [weights[t] / total for t in self.tokens]
        self._rng = random.Random(seed)
        self._draft: int | None = None

    def offer(self, draft: int) -> None:
        """The next draw verifies ``draft``."""
        self._draft = draft

    def __next__(self) -> int:
        draft, self._draft = self._draft, None
        rng = self._rng
        if draft is None:
            return rng.choices(self.tokens, self.probabilities)[0]
        p_draft = dict(zip(self.tokens, self.probabilities, strict=True)).get(draft, 0.0)
        if rng.random() < p_draft:
            return draft
        rest = [(t, p) for t, p in zip(self.tokens, self.probabilities, strict=True) if t != draft]
        return rng.choices([t for t, _ in rest], [p for _, p in rest])[0]


def verify_rows(runner: ScriptedBatchRunner, rows: Sequence[_Row],
                drafts: Sequence[Sequence[int]]) -> list[StepResult]:
    """Each row's drafts checked position by position against its next token (module doc)."""
    return [_verify(runner, row, draft) for row, draft in zip(rows, drafts, strict=True)]


def _verify(runner: ScriptedBatchRunner, row: _Row, draft: Sequence[int]) -> StepResult:
    accepted: list[int] = []
    offer = getattr(row.source, "offer", None)
    for token in draft:
        if offer is not None:
            offer(token)
        result = runner._next(row)
        if result.error is not None or result.token != token:
            return dataclasses.replace(result, accepted=tuple(accepted))
        accepted.append(token)
    result = runner._next(row)
    return dataclasses.replace(result, accepted=tuple(accepted)) if accepted else result
