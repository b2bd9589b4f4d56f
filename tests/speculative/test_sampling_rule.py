"""Sampling with speculation keeps the model's distribution (the rejection-sampling rule), shown
on the scripted backend's known distribution with fixed seeds and generous chi-square bounds."""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from itertools import pairwise
from typing import Any

import lmstream
from lmstream.model import Drafter, DraftState
from lmstream.protocol import GenerationParameters

A, B, C = ord("A"), ord("B"), ord("C")
P = {A: 0.5, B: 0.3, C: 0.2}
GENERATIONS = 300
TOKENS = 8
CHI2_2DOF = 30.0
"""p < 1e-6 for 2 degrees of freedom (the 0.999999 quantile is 27.6): a fixed-seed run of a
correct rule stays far below; the naive rule (accept every draft) lands in the hundreds."""
CHI2_8DOF = 45.0
"""p < 1e-6 for 8 degrees of freedom (the 0.999999 quantile is 41.3)."""


class _Always(DraftState):
    """Proposes A, B, A, C, ... whatever the context: drafts the rule must accept or reject."""

    def propose(self, tokens: Sequence[int], limit: int) -> Sequence[int]:
        return [(A, B, A, C)[(len(tokens) + i) % 4] for i in range(limit)]


class _AlwaysDrafter(Drafter):
    name = "always"

    def start(self, prompt: Sequence[int], parameters: GenerationParameters) -> DraftState:
        return _Always()


def _chi2(counts: Counter[Any], expected: dict[Any, float]) -> float:
    total = sum(counts.values())
    return sum((counts[k] - total * p) ** 2 / (total * p) for k, p in expected.items())


def _sample(drafter: Drafter | None) -> tuple[list[tuple[int, ...]], int, int]:
    with lmstream.load(backend="scripted", model_chat_template=None, distribution=P,
                       drafter=drafter) as context:
        outputs, proposed, accepted = [], 0, 0
        for seed in range(GENERATIONS):
            result = context.generate("q", temperature=1.0, seed=seed, max_tokens=TOKENS)
            ids = tuple(result.text.encode())
            assert len(ids) == TOKENS
            outputs.append(ids)
            proposed += result.info.stats.draft_tokens_proposed
            accepted += result.info.stats.draft_tokens_accepted
    return outputs, proposed, accepted


def test_speculative_sampling_keeps_the_distribution() -> None:
    outputs, proposed, accepted = _sample(_AlwaysDrafter())
    assert proposed > GENERATIONS * 2 and 0 < accepted < proposed  # the rule really ran
    singles = Counter(t for ids in outputs for t in ids)
    assert set(singles) <= set(P)
    assert _chi2(singles, P) < CHI2_2DOF
    # consecutive pairs: positions stay independent (a draft's acceptance must not leak)
    pairs = Counter(pair for ids in outputs for pair in pairwise(ids))
    assert _chi2(pairs, {(x, y): P[x] * P[y] for x in P for y in P}) < CHI2_8DOF
    # per position: the first token of each verification is as likely as any other
    for position in range(TOKENS):
        assert _chi2(Counter(ids[position] for ids in outputs), P) < CHI2_2DOF


def test_the_bound_rejects_a_skewed_sample() -> None:
    """The bound is tight enough to see a rule that favours drafts: accepting every proposed
    A (one of them), as a naive rule would, shifts the sample far past it."""
    outputs, _, _ = _sample(None)
    skewed = Counter(A if t == B and i % 2 == 0 else t for i, ids in enumerate(outputs) for t in ids)
    assert _chi2(Counter(t for ids in outputs for t in ids), P) < CHI2_2DOF
    assert _chi2(skewed, P) > CHI2_2DOF

