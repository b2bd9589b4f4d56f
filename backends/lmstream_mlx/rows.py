"""One sequence's state in the MLX batch runner, shared by the runner (batch.py) and its
draft verification (verify.py), so neither module imports the other."""

from __future__ import annotations

from dataclasses import dataclass

import mlx.core as mx

from lmstream.backend import SequenceRequest

from .cache import MlxPromptCache
from .generation import DecodeSetup
from .sampling import greedy


@dataclass
class Row:
    """One sequence's state in the runner."""

    request: SequenceRequest
    setup: DecodeSetup
    owned: bool
    rest: list[int]
    """Prompt ids the cache did not hold at ``add``; all but the last are prefilled."""
    cached: int
    batchable: bool
    done: int = 0
    next_input: int = -1
    prefilled: bool = False
    generated: int = 0
    ahead: mx.array | None = None
    """The next token, already queued (a lone sequence's pipelined step): its step fed
    ``next_input``, which ``cache.tokens`` already lists."""
    failure: BaseException | None = None
    """An error the queued step hit: the sequence's next result."""

    @property
    def cache(self) -> MlxPromptCache:
        """The sequence's prompt cache."""
        return self.setup.cache


def plain_greedy(row: Row) -> bool:
    """Greedy with nothing to apply per row (no penalties, bias, constraint or logprobs): such
    rows of a batched step take the argmax of their logits in one numpy call (mlx's CPU
    ``logsumexp`` and ``argmax`` over 8 rows of the default model's 49,152 logits took ~10 ms
    at load 7.5, numpy's ``argmax`` 0.03 ms; the largest logit is the most likely token, where
    normalizing in float32 could at most round a near-tie into a tie)."""
    setup = row.setup
    return (setup.sampler is greedy and not setup.processors and setup.constraint is None
            and not row.request.parameters.logprobs)
