"""Speculative decoding on the MLX runner: score every row's draft tokens in one forward pass.

``verify`` feeds each row its pending token followed by its drafts (rows with fewer drafts
are padded; the padding is dropped with the rejected tail), so one model call scores every
position of every row. Each row then walks its positions in order, sampling exactly as
``step`` would (the same processors, the structured-output mask advanced through each
accepted draft only, the same sampler and its random key): a draft is accepted while it
equals the token sampled at its position. Sampling then comparing gives the standard
speculative rule for deterministic drafts (draft ``x`` kept with probability ``p(x)``, a
rejection sampled from ``p`` without ``x``), and since each output token consumes one
sampler draw, a seeded run yields the very tokens it yields without drafts.

On mlx's CPU numpy decoder layers (``serves_rows``) the rows keep their own caches and the
one call passes ``RowCaches`` with each row's real token count: each row's cache is extended
by its own fed tokens only (not the padding).

The KV cache is cut back to the pending token plus the accepted drafts: a row on its own
caches (alone, or one of the numpy layers' rows) trims its own layer caches by its own
surplus; rows sharing mlx-lm ``BatchKVCache`` layers are trimmed by the
smallest surplus, and each row's remaining surplus is turned into left padding (the row's
entries are rolled right, as ``BatchKVCache.finalize`` does for right padding), so rows can
keep different lengths in one batch.

Rows that do not speculate (their drafts are ignored, the step is an ordinary one): rows
whose cache cannot batch (a rotating ``max_kv_size`` window or quantized ``kv_bits``: such
caches cannot always go back) and rows asking for logprobs (``StepResult`` carries the
logprob of ``token`` only, not of the accepted drafts).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, Protocol

import mlx.core as mx
import numpy as np

from lmstream.backend import StepResult

from .blas_scope import model_call
from .cpu_attention import row_caches
from .cpu_decoder import serves_rows
from .cpu_share import DOT_ROWS
from .rows import Row, plain_greedy, row_result, sample_row
from .speed import blas_threads_of


class MlxBatchRunner(Protocol):
    """What verification uses of the MLX batch runner (batch.py), which calls it."""

    @property
    def _rows(self) -> Mapping[int, Row]: ...
    @property
    def _members(self) -> list[int]: ...
    @property
    def _batch(self) -> Any: ...
    @property
    def _model(self) -> Any: ...
    @property
    def _backend(self) -> Any: ...
    def step(self, seq_ids: Sequence[int]) -> list[StepResult]: ...
    def _step_rows(self, ids: list[int], layers: Any) -> dict[int, StepResult]: ...
    def _sync_batch(self, ids: list[int]) -> None: ...

MAX_DRAFT_TOKENS = 8
"""Draft tokens per row one ``verify`` scores at most (the runner's ``max_draft_tokens``)."""


def speculates(row: Row) -> bool:
    """Whether ``verify`` scores this row's drafts (see the module docstring)."""
    return row.batchable and not row.request.parameters.logprobs


def verify(runner: MlxBatchRunner, seq_ids: Sequence[int],
           drafts: Sequence[Sequence[int]]) -> list[StepResult]:
    """``BatchRunner.verify`` for ``runner``: one forward pass for the batched rows (module
    docstring); a row that cannot batch is stepped alone, as ``step`` does."""
    if len(drafts) != len(seq_ids):
        raise ValueError(f"verify() needs one draft list per sequence: {len(seq_ids)} ids, "
                         f"{len(drafts)} draft lists")
    rows = {i: runner._rows[i] for i in seq_ids}
    wanted: dict[int, list[int]] = {}
    for seq_id, draft in zip(seq_ids, drafts, strict=True):
        if draft and speculates(rows[seq_id]):
            wanted[seq_id] = [int(t) for t in draft[:MAX_DRAFT_TOKENS]]
    if not wanted:
        return runner.step(seq_ids)
    not_ready = [i for i, r in rows.items() if not r.prefilled]
    if not_ready:
        raise ValueError(f"verify() needs prefilled sequences; not ready: {not_ready}")
    results: dict[int, StepResult] = {}
    with mx.stream(runner._backend.stream()):
        batched = [i for i in seq_ids if rows[i].batchable]
        if len(batched) >= 2 and serves_rows(runner._model):  # numpy layers: rows keep their own caches
            runner._sync_batch([])
            lengths = [len(wanted.get(i, ())) for i in batched]
            plan = _plan(lengths)
            if plan == "padded":
                results.update(_verify_rows(runner, batched, None, wanted, shared=False))
            else:  # the plain rows take one step; the drafting rows one call ("grouped") or one each
                plain = [i for i in batched if i not in wanted]
                if len(plain) >= 2:
                    results.update(runner._step_rows(plain, row_caches([rows[i].cache.layers for i in plain])))
                drafting = [i for i in batched if i in wanted]
                if plan == "grouped" and len(drafting) >= 2:
                    results.update(_verify_rows(runner, drafting, None, wanted, shared=False))
        else:
            runner._sync_batch(batched if len(batched) >= 2 else [])
            if runner._members:
                results.update(_verify_rows(runner, runner._members, runner._batch, wanted, shared=True))
        for seq_id in seq_ids:
            if seq_id in results:
                continue
            layers = rows[seq_id].cache.layers
            if seq_id in wanted:
                results.update(_verify_rows(runner, [seq_id], layers, wanted, shared=False))
            else:
                results.update(runner._step_rows([seq_id], layers))
    return [results[i] for i in seq_ids]


CALL_POSITIONS = 10
"""What one model call costs beyond its positions, in positions, when mlx's kernels or a
prefill chunk's GEMMs multiply it (mlx-lm batch caches: one numpy-path call of 8 rows x 1
token took ~81 ms, of 8 rows x 5 tokens ~221 ms: ~4.4 ms a position, ~46 ms a call)."""
GEMM_CALL_POSITIONS = 20
"""On the numpy decoder layers a call of up to ``DOT_ROWS`` positions multiplies with dot
products (one pass over the weights at memory speed, cpu_share.dot_rows); more positions go
through OpenBLAS's GEMM, whose fixed cost is about twice a one-row step's. Measured per lone
row, quiet machine, in units of 1/11 of a one-row step (26 ms): 2 positions 12, 3 positions
19, 4 positions 23, 5 positions 26, 9 positions 29; 8 rows x 1 position 30
(benchmarks/speculative.py's ``step_costs``)."""
DOT_CALL_COSTS = (11, 12, 19)
"""``call_cost`` of 1, 2 and 3 positions (``DOT_ROWS``: dot products), measured as above."""
GEMM_FLAT_POSITIONS = 16
"""Positions up to which a GEMM call's products cost about the same (OpenBLAS's small-row
kernel: 8 and 16 rows took 58 and 60 ms, 64 rows 200 ms); each position beyond adds
``GEMM_POSITION_COST`` units."""
GEMM_POSITION_COST = 1.25


def call_cost(positions: int) -> float:
    """One numpy-path model call feeding ``positions`` positions in all, in units of 1/11 of a
    one-row step (``CALL_POSITIONS + 1``), the unit of ``BatchRunner.verify_cost``."""
    if positions <= DOT_ROWS:
        return float(DOT_CALL_COSTS[max(positions, 1) - 1])
    if positions <= GEMM_FLAT_POSITIONS:
        return float(GEMM_CALL_POSITIONS + positions)
    return GEMM_CALL_POSITIONS + GEMM_FLAT_POSITIONS + GEMM_POSITION_COST * (positions - GEMM_FLAT_POSITIONS)


def _plan_costs(lengths: Sequence[int]) -> dict[str, float]:
    """The cost (``call_cost`` per call) of each way to verify rows on their own numpy caches
    where row ``i`` drafts ``lengths[i]`` tokens (0: none): "padded", one call over every row,
    each fed as many positions as the longest draft; "grouped", one plain step for the rows
    that do not draft and one padded call for those that do; "split", the plain step and a
    call per drafting row."""
    drafting = [d for d in lengths if d]
    plain = len(lengths) - len(drafting)
    step = call_cost(plain) if plain else 0.0
    longest = 1 + max(drafting, default=0)
    return {"padded": call_cost(len(lengths) * longest),
            "grouped": step + call_cost(len(drafting) * longest),
            "split": step + sum(call_cost(1 + d) for d in drafting)}


def _plan(lengths: Sequence[int]) -> str:
    """The cheapest of ``_plan_costs`` (the first of equals: fewer calls)."""
    costs = _plan_costs(lengths)
    return min(costs, key=costs.__getitem__)


def verify_cost(lengths: Sequence[int], *, own_caches: bool) -> float:
    """``BatchRunner.verify_cost`` for the MLX runner: a step where row ``i`` verifies
    ``lengths[i]`` drafts, in units of 1/11 of a one-row step. ``own_caches``: the rows keep
    their own numpy caches (numpy decoder layers: ``call_cost``, the cheapest plan); else rows
    share mlx-lm batch caches and one padded call feeds every row the longest draft
    (``CALL_POSITIONS`` a call). A lone row: its one call."""
    if not lengths:
        return 0.0
    if own_caches:
        if len(lengths) == 1:
            return call_cost(1 + lengths[0])
        return float(min(_plan_costs(lengths).values()))
    if len(lengths) == 1:
        return float(CALL_POSITIONS + 1 + lengths[0])
    return float(CALL_POSITIONS + len(lengths) * (1 + max(lengths)))


def _verify_rows(runner: MlxBatchRunner, ids: list[int], layers: Any,
                 wanted: dict[int, list[int]], *, shared: bool) -> dict[int, StepResult]:
    """One model call over ``ids`` (pending token + drafts, padded to one length), then each
    row's accepted drafts and next token, then the KV cut back to what was accepted.
    ``layers`` None: the rows' own caches through ``RowCaches`` (numpy decoder layers), each
    extended by its real tokens only."""
    rows = [runner._rows[i] for i in ids]
    drafts = [wanted.get(i, []) for i in ids]
    length = 1 + max(len(d) for d in drafts)
    fed = [[r.next_input, *d] for r, d in zip(rows, drafts, strict=True)]
    if layers is None:
        layers = row_caches([r.cache.layers for r in rows], [len(f) for f in fed])
    inputs = mx.array([f + [f[-1]] * (length - len(f)) for f in fed], dtype=mx.uint32)
    with model_call(blas_threads_of(runner._model)):
        logits = runner._model(inputs, cache=layers)
    fast = [k for k, r in enumerate(rows) if plain_greedy(r)]
    greedy_rows: dict[int, list[int]] = {}
    if fast:  # numpy's argmax (see rows.plain_greedy): mlx's CPU argmax costs more than the rest
        chosen = logits if len(fast) == len(rows) else logits[mx.array(fast)]
        best = np.asarray(chosen.astype(mx.float32)).argmax(axis=-1)
        greedy_rows = {k: [int(t) for t in best[j]] for j, k in enumerate(fast)}
    results: dict[int, StepResult] = {}
    kept: list[int] = []
    for k, (seq_id, row) in enumerate(zip(ids, rows, strict=True)):
        if k in greedy_rows:
            result = _accept_greedy(row, seq_id, drafts[k], greedy_rows[k])
        else:
            result = _accept_sampled(row, seq_id, fed[k], logits[k:k + 1])
        results[seq_id] = result
        keep = 1 + len(result.accepted)
        row.cache.extend(fed[k][:keep])
        kept.append(keep)
    if shared:
        trim_shared(layers, [length - keep for keep in kept])
    else:  # each row's own caches hold its fed tokens (a lone row: no padding)
        for row, tokens, keep in zip(rows, fed, kept, strict=True):
            for layer in row.cache.layers or ():
                layer.trim(len(tokens) - keep)
    return results


def _accept_greedy(row: Row, seq_id: int, draft: list[int], best: list[int]) -> StepResult:
    """Accept the drafts equal to the argmax at their position; the next argmax follows."""
    accepted = 0
    while accepted < len(draft) and draft[accepted] == best[accepted]:
        accepted += 1
    token = int(best[accepted])
    row.next_input = token
    row.generated += 1 + accepted
    return StepResult(seq_id, token, accepted=tuple(draft[:accepted]))


def _accept_sampled(row: Row, seq_id: int, fed: list[int], logits: mx.array) -> StepResult:
    """Sample position after position as ``step`` does (processors, mask, sampler); keep a
    draft while it equals its position's sample. An error ends the row (drafts kept so far
    are reported with it)."""
    accepted: list[int] = []
    for position, token in enumerate(fed):
        try:
            arrays = sample_row(row, logits[:, position, :], mx.array([token], dtype=mx.uint32))
            mx.eval(list(arrays))
        except Exception as exc:
            return StepResult(seq_id, error=exc, accepted=tuple(accepted))
        sampled: list[int] = arrays[0].tolist()  # type: ignore[assignment]
        if position + 1 < len(fed) and int(sampled[0]) == fed[position + 1]:
            accepted.append(fed[position + 1])
            continue
        row.generated += len(accepted)  # row_result counts the sampled token
        result = row_result(row, arrays)
        return StepResult(seq_id, result.token, result.logprob, result.top_logprobs,
                          accepted=tuple(accepted))
    raise AssertionError("unreachable: the last position always ends the row")


def trim_shared(layers: Any, surplus: list[int]) -> None:
    """Drop ``surplus[i]`` trailing entries of row ``i`` from every ``BatchKVCache`` layer:
    trim all rows by the smallest surplus, then turn each row's remainder into left padding
    (its entries rolled right past the padding; the rolled-in tail is beyond ``_idx`` and
    never read)."""
    low = min(surplus)
    extra = [s - low for s in surplus]
    for layer in layers:
        if low:
            layer.trim(low)
        if any(extra):
            layer.prepare(right_padding=extra)
            layer.finalize()
