"""Speculative decoding on llama.cpp: every row's pending token and drafts in one ``llama_decode``.

``verify`` puts each sequence's pending token and its draft tokens at their next positions in
one multi-sequence batch, asking for the logits of every one of them. Each row then samples
its positions in order exactly as ``step`` does (the runner's ``_sample``: the structured-
output mask written into that position's logits after advancing the constraint by the token
before it, then the row's sampler chain, which accepts what it samples): a draft is accepted
while it equals the token sampled at its position. Sampling then comparing is the standard
speculative rule for deterministic drafts (``x`` kept with probability ``p(x)``, a rejection
drawn from ``p`` without ``x``), and each output token takes one draw from the chain, so a
seeded run yields the tokens it yields without drafts. ``llama_memory_seq_rm`` then drops the
rejected tail from the row's KV cells.

Rows that do not speculate (their drafts are ignored): rows asking for logprobs
(``StepResult`` carries only the last token's), and every row of a model whose memory cannot
drop positions (recurrent/hybrid: ``max_draft_tokens`` is 0 there). Rows ``step`` would not
decode now (a row past its limits) and rows with a ``max_kv_size`` window (context shifts)
are handed to ``step``. A sequence's first token is sampled at prefill: its first draft is
checked against that token and, when equal, the rest are verified after it in the same call.
"""

from __future__ import annotations

import weakref
from collections.abc import Mapping, Sequence
from typing import Any, Protocol

import llama_cpp
import numpy as np

from lmstream.backend import StepResult

from .engine import _DECODE_ERRORS, DecodeError, Engine
from .sequence import RunningSequence as _Sequence


class LlamaCppBatchRunner(Protocol):
    """What verification uses of the llama.cpp batch runner (runner.py), which calls it."""

    @property
    def engine(self) -> Engine: ...
    @property
    def _seqs(self) -> Mapping[int, _Sequence]: ...
    def step(self, seq_ids: Sequence[int]) -> list[StepResult]: ...
    def _sample(self, seq: _Sequence, index: int) -> StepResult: ...

MAX_DRAFT_TOKENS = 8
"""Draft tokens per sequence one ``verify`` scores at most."""

CALL_POSITIONS = 3
"""What one ``llama_decode`` costs beyond the positions it feeds, in positions (the core's
speculation rule weighs drafts with it). llama.cpp's decode grows with its positions much more
than the MLX runner's: with one thread (process CPU, load ~8) the default model took ~17 ms a
call plus ~10 ms a position (about 2 positions a call); two threads halve the positions' part."""


def verify_cost(lengths: Sequence[int]) -> float:
    """``BatchRunner.verify_cost``: a step where row ``i`` verifies ``lengths[i]`` drafts, in
    positions; one decode feeds each row its token and its drafts (no padding)."""
    return float(CALL_POSITIONS + sum(1 + d for d in lengths)) if lengths else 0.0


_batches: weakref.WeakKeyDictionary[Engine, Any] = weakref.WeakKeyDictionary()


def draft_limit(engine: Engine) -> int:
    """The runner's ``max_draft_tokens``: 0 where the KV cells cannot be trimmed."""
    return MAX_DRAFT_TOKENS if engine.can_trim else 0


def verify(runner: LlamaCppBatchRunner, seq_ids: Sequence[int],
           drafts: Sequence[Sequence[int]]) -> list[StepResult]:
    """``BatchRunner.verify`` for ``runner`` (see the module docstring)."""
    if len(drafts) != len(seq_ids):
        raise ValueError(f"verify() needs one draft list per sequence: {len(seq_ids)} ids, "
                         f"{len(drafts)} draft lists")
    engine = runner.engine
    rows: list[tuple[_Sequence, list[int]]] = []
    others: list[int] = []
    first: dict[int, int] = {}
    """Rows whose first draft was the token sampled at prefill: that token, now accepted."""
    room = engine.n_batch
    for seq_id, draft in zip(seq_ids, drafts, strict=True):
        seq = runner._seqs[seq_id]
        pending = seq.pending
        if (pending is not None and draft and pending.error is None and pending.token == draft[0]
                and not seq.request.parameters.logprobs):
            seq.pending, first[seq_id] = None, pending.token
            draft = draft[1:]
        if not _decodable(seq, engine) or room < 1:
            if seq_id in first:  # nothing to decode after it now: hand the token back to step
                seq.pending = pending
                del first[seq_id]
            others.append(seq_id)
            continue
        left = seq.request.control.max_tokens - seq.generated - 1  # may be infinite
        count = int(min(len(draft), draft_limit(engine), room - 1, left, engine.n_ctx - len(seq.fed) - 1))
        if seq.request.parameters.logprobs:
            count = 0
        kept = [int(t) for t in draft[:max(count, 0)]]
        rows.append((seq, kept))
        room -= 1 + len(kept)
    if not first and not any(kept for _, kept in rows):
        return runner.step(seq_ids)
    results = dict(zip(others, runner.step(others), strict=True)) if others else {}
    try:
        starts = _decode(engine, [(seq.slot, [seq.next_token, *kept], len(seq.fed)) for seq, kept in rows])
    except (DecodeError, ValueError) as exc:
        for seq, _ in rows:
            results[seq.request.seq_id] = StepResult(seq.request.seq_id, error=exc)
        return [results[i] for i in seq_ids]
    for (seq, kept), start in zip(rows, starts, strict=True):
        results[seq.request.seq_id] = _accept(runner, seq, kept, start)
    for seq_id, token in first.items():
        result = results[seq_id]
        results[seq_id] = StepResult(seq_id, result.token, result.logprob, result.top_logprobs,
                                     result.error, (token, *result.accepted))
    return [results[i] for i in seq_ids]


def _decodable(seq: _Sequence, engine: Engine) -> bool:
    """Whether ``step`` would decode this row now, without a context shift."""
    return (seq.prefilled and seq.pending is None and seq.request.parameters.max_kv_size is None
            and seq.generated < seq.request.control.max_tokens and len(seq.fed) < engine.n_ctx)


def _accept(runner: LlamaCppBatchRunner, seq: _Sequence, draft: list[int], start: int) -> StepResult:
    """Sample the row's positions in order while the drafts agree; record what was fed and
    drop the rejected tail from the slot's KV cells."""
    fed = [seq.next_token]
    accepted: list[int] = []
    result: StepResult | None = None
    for position in range(len(draft) + 1):
        result = runner._sample(seq, start + position)
        if result.error is not None or position == len(draft) or result.token != draft[position]:
            break
        accepted.append(result.token)
        fed.append(result.token)
    assert result is not None
    seq.fed.extend(fed)
    runner.engine.trim(seq.slot, len(seq.fed))
    return StepResult(seq.request.seq_id, result.token, result.logprob, result.top_logprobs,
                      result.error, tuple(accepted))


def _decode(engine: Engine, items: list[tuple[int, list[int], int]]) -> list[int]:
    """One ``llama_decode`` of ``(slot, tokens, first position)`` items with logits at every
    token; returns each item's first batch index (its outputs follow in order)."""
    batch = _batches.get(engine)
    if batch is None:
        batch = llama_cpp.llama_batch_init(engine.n_batch, 0, 1)
        weakref.finalize(engine, llama_cpp.llama_batch_free, batch)
        _batches[engine] = batch
    total = sum(len(tokens) for _, tokens, _ in items)
    if total > engine.n_batch:
        raise ValueError(f"{total} tokens do not fit one batch (n_batch={engine.n_batch})")
    token = np.ctypeslib.as_array(batch.token, shape=(engine.n_batch,))
    pos = np.ctypeslib.as_array(batch.pos, shape=(engine.n_batch,))
    n_seq = np.ctypeslib.as_array(batch.n_seq_id, shape=(engine.n_batch,))
    logits = np.ctypeslib.as_array(batch.logits, shape=(engine.n_batch,))
    starts: list[int] = []
    n = 0
    for slot, tokens, first in items:
        count = len(tokens)
        token[n:n + count] = tokens
        pos[n:n + count] = np.arange(first, first + count)
        n_seq[n:n + count] = 1
        logits[n:n + count] = 1
        for i in range(n, n + count):
            batch.seq_id[i][0] = slot
        starts.append(n)
        n += count
    batch.n_tokens = n
    rc = int(llama_cpp.llama_decode(engine.ctx, batch))
    if rc != 0:
        message = _DECODE_ERRORS.get(rc, "llama_decode failed with code {rc}")
        raise DecodeError(message.format(n_ctx=engine.n_ctx, rc=rc))
    return starts
