"""One sequence's state in the MLX batch runner and the sampling of its step, shared by the
runner (batch.py) and its draft verification (verify.py), so neither module imports the other."""

from __future__ import annotations

from dataclasses import dataclass

import mlx.core as mx

from lmstream.backend import SequenceRequest, StepResult

from .cache import MlxPromptCache
from .generation import DecodeSetup
from .prefill_layers import LayerPrefill
from .sampling import greedy, sequence_logprobs, top_logprobs


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
    partial: LayerPrefill | None = None
    """A prefill chunk stopped between two layers (``BatchRunner.interrupt``): it goes on first."""

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


def sample_row(row: Row, logits: mx.array, fed: mx.array) -> tuple[mx.array, ...]:
    """Lazy arrays for one row's step (``fed`` the id it fed): the sampled id, then (when asked)
    its logprob and the top ids with theirs; the row's history and constraint advance."""
    setup = row.setup
    setup.record(fed)
    mask = setup.next_mask(logits, fed)
    logprobs = sequence_logprobs(logits, setup.processors, setup.history, mask)
    token = setup.sampler(logprobs).reshape(-1)[:1]
    parameters = row.request.parameters
    if not parameters.logprobs:
        return (token,)
    chosen = mx.take_along_axis(logprobs, token[:, None], axis=-1).reshape(-1)
    if not parameters.top_logprobs:
        return token, chosen
    return (token, chosen, *top_logprobs(logprobs, parameters.top_logprobs))


def sample_first_token(row: Row, logits: mx.array, fed: mx.array) -> None:
    """Sample the first token from the last prompt chunk's logits (``fed``: the prompt's last
    id): the row's first step takes it (``ahead``) instead of feeding that id in a model call
    of its own; a sampling error is the row's first result (``failure``)."""
    try:
        token = sample_row(row, logits, fed)[0]
        mx.eval(token)
    except Exception as exc:
        row.failure = exc
    else:
        row.ahead = token


def row_result(row: Row, arrays: tuple[mx.array, ...]) -> StepResult:
    """The row's step result from ``sample_row``'s evaluated arrays (the row counts the token)."""
    sampled: list[int] = arrays[0].tolist()  # type: ignore[assignment]
    token = int(sampled[0])
    row.next_input = token
    row.generated += 1
    seq_id = row.request.seq_id
    if len(arrays) == 1:
        return StepResult(seq_id, token)
    top = None
    if len(arrays) == 4:
        ids: list[int] = arrays[2].tolist()  # type: ignore[assignment]
        values: list[float] = arrays[3].tolist()  # type: ignore[assignment]
        top = tuple(zip(map(int, ids), map(float, values), strict=True))
    chosen: list[float] = arrays[1].tolist()  # type: ignore[assignment]
    return StepResult(seq_id, token, float(chosen[0]), top)
