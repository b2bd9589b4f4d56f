"""MlxBatchRunner: the mlx backend's one decode path (the core's BatchRunner contract).

Each sequence prefills alone, in chunks, into its own MlxPromptCache (reusing its prefix).
A sequence stepped alone (a single stream) is pipelined as mlx-lm's generate_step: the step
that samples token n+1 is queued (``mx.async_eval``) before token n is read, so the model
computes while the core handles token n; it is not queued past ``control.max_tokens``. Not
on CPU's numpy layers and caches: they compute as a step is built (a token ~26 ms later).
Decoding several sequences steps every ready one together: rows
with plain KV caches share one mlx-lm ``BatchKVCache`` per layer (merged in with
``merge``/``extend``, dropped with ``extract``/``filter``), so one model call serves them
all (on CPU's numpy decoder layers each row keeps its own cache instead: ``RowCaches``);
a row whose cache cannot batch (rotating ``max_kv_size``, quantized ``kv_bits``, a
model with non-attention caches) is stepped alone in the same ``step`` call.

A step feeds each row one token (the last prompt token first, then its last sampled
token; on numpy layers the last prefill chunk feeds the last prompt token and samples the
first token, which the first step reads: ``first_token_ready``), so ``cache.tokens`` always
lists exactly the ids whose keys/values were written;
``remove`` moves a row's keys/values back into its MlxPromptCache, so a ChatSession's next
turn reuses them as it does without batching.
"""

from __future__ import annotations

import contextlib
import dataclasses
from collections.abc import Sequence
from typing import Any

import mlx.core as mx
import mlx.nn as nn
import numpy as np
from mlx_lm.models.cache import BatchKVCache, KVCache

from lmstream.backend import BatchRunner, SequenceRequest, StepResult

from . import memory, prefill_rows
from .blas_scope import model_call
from .cache import CacheLayout, MlxPromptCache
from .cpu_attention import NumpyKVCache, row_caches
from .cpu_decoder import serves_rows
from .generation import DecodeSetup, reuse_cache
from .prefill_layers import LayerPrefill
from .rows import Row, plain_greedy, row_result, sample_first_token, sample_row
from .sampling import make_processors, make_token_sampler
from .speed import blas_threads_of
from .verify import MAX_DRAFT_TOKENS, verify, verify_cost

DEFAULT_MAX_BATCH_SIZE = 16
"""Rows stepped together at most (the measured gain flattens past 16 on CPU: docs/backends.md)."""
CLEAR_CACHE_EVERY = 256
"""Steps of a lone sequence between returns of mlx's buffer cache (mlx-lm does the same)."""


class MlxBatchRunner(BatchRunner):
    """Steps the sequences of one mlx model together (see the module docstring)."""

    max_draft_tokens = MAX_DRAFT_TOKENS
    shares_prefill = True

    def __init__(self, backend: Any, max_batch_size: int = DEFAULT_MAX_BATCH_SIZE) -> None:
        self._backend = backend
        self.max_batch_size = max_batch_size
        self._rows: dict[int, Row] = {}
        self._members: list[int] = []  # sequence ids whose keys/values live in ``_batch``, in order
        self._batch: list[BatchKVCache] | None = None
        self._numpy_layers = serves_rows(self._model)  # (decided once) their plain-cache rows: not pipelined

    @property
    def _model(self) -> nn.Module:
        return self._backend.model

    def add(self, request: SequenceRequest) -> None:
        """Check the request, set up its sampler, reuse its cache's prefix (no compute yet)."""
        if request.seq_id in self._rows:
            raise ValueError(f"sequence {request.seq_id} was already added")
        backend, parameters = self._backend, request.parameters
        prompt = [int(t) for t in request.prompt]
        backend.validate(prompt, parameters)
        cache = backend.check_cache(request.cache)
        owned = cache is None
        work = MlxPromptCache(self._model) if cache is None else cache
        setup = DecodeSetup(self._model, work, make_token_sampler(parameters, backend.vocab_size),
                            make_processors(parameters, backend.vocab_size), parameters,
                            constraint=request.control.constraint)
        figures = request.control.memory
        figures["weights_bytes"] = backend.weights_bytes
        with mx.stream(backend.stream()):
            work.prepare(CacheLayout.of(parameters))
            if not self._rows:
                memory.reset_peak()
            figures["baseline_bytes"] = memory.active_bytes()
            cached = reuse_cache(work, prompt)
            if setup.processors and cached:
                setup.history = mx.array(prompt[:cached], dtype=mx.uint32)
        layers = work.layers or []
        batchable = (parameters.max_kv_size is None and parameters.kv_bits is None
                     and all(type(c) in (KVCache, NumpyKVCache) for c in layers))
        row = Row(request, setup, owned, prompt[cached:], cached, batchable, next_input=prompt[-1])
        self._rows[request.seq_id] = row
        request.control.prefill_progress(0, len(row.rest))

    def prefill(self, seq_id: int, max_tokens: int) -> bool:
        """Prefill up to ``max_tokens`` more prompt ids (on numpy layers layer by layer: a chunk
        that stopped at ``interrupt`` goes on first); True once the sequence can be stepped."""
        row = self._rows[seq_id]
        if row.prefilled:
            return True
        todo = len(row.rest) - 1 - row.done  # the last prompt id: fed by the first step...
        if todo > 0:
            with mx.stream(self._backend.stream()):
                if row.partial is None:
                    n = min(max(int(max_tokens), 1), todo)
                    chunk = row.rest[row.done:row.done + n]
                    if LayerPrefill.fits(row.setup):  # ...or by the last chunk, sampling the first token
                        last = n == todo and not row.request.parameters.logprobs
                        row.partial = LayerPrefill(row.setup, row.rest[row.done:row.done + n + last], last)
                    else:
                        row.setup.prefill(chunk)
                if row.partial is not None:
                    partial, row.partial = row.partial, None
                    if not partial.run(self.interrupt):
                        row.partial = partial
                        return False  # stopped between two layers: the next call goes on
                    chunk = partial.chunk
                    if partial.logits is not None:
                        sample_first_token(row, partial.logits, partial.ids[-1:])
                memory.clear_cache()
            row.done += len(chunk)
            todo -= len(chunk)
            row.request.control.prefill_progress(row.done, len(row.rest))
        return self._ready(row, todo)

    def prefill_many(self, seq_ids: Sequence[int], max_tokens: Sequence[int]) -> list[bool]:
        """``prefill`` of several sequences (up to ``max_tokens[k]`` more prompt ids each):
        with numpy decoder layers, chunks of similar length share one model call
        (prefill_rows.py); True per sequence once it can be stepped. An error in a shared call
        is raised with its rows' caches cut back to what they held before it."""
        rows = [self._rows[i] for i in seq_ids]
        chunks: dict[int, list[int]] = {}
        if self._numpy_layers:
            for k, row in enumerate(rows):
                todo = len(row.rest) - 1 - row.done
                if not row.prefilled and todo > 0 and prefill_rows.batchable(row):
                    n = min(max(int(max_tokens[k]), 1), todo)
                    chunks[k] = row.rest[row.done:row.done + n]
        ready: dict[int, bool] = {}
        together = list(chunks)
        for group in prefill_rows.groups([len(chunks[k]) for k in together]):
            members = [together[g] for g in group]
            if len(members) < 2:
                continue
            with mx.stream(self._backend.stream()):
                prefill_rows.prefill_together(self._model, [rows[k] for k in members],
                                              [chunks[k] for k in members])
            for k in members:
                row = rows[k]
                row.done += len(chunks[k])
                row.request.control.prefill_progress(row.done, len(row.rest))
                ready[k] = self._ready(row, len(row.rest) - 1 - row.done)
        return [ready[k] if k in ready else self.prefill(seq_id, max_tokens[k])
                for k, seq_id in enumerate(seq_ids)]

    def first_token_ready(self, seq_id: int) -> bool:
        """Whether the last prefill chunk sampled the sequence's first token (``step`` reads it)."""
        row = self._rows.get(seq_id)
        return row is not None and row.generated == 0 and (row.ahead is not None or row.failure is not None)

    def _ready(self, row: Row, todo: int) -> bool:
        """Mark ``row`` prefilled once no prompt id is left to prefill (``todo``)."""
        if todo > 0:
            return False
        row.prefilled = True
        control = row.request.control
        control.prefill_progress(len(row.rest), len(row.rest))
        control.mark_prefill_done(len(row.rest), row.cached)
        control.memory["after_prefill_bytes"] = memory.active_bytes()
        return True

    def step(self, seq_ids: Sequence[int]) -> list[StepResult]:
        """One decode step of these prefilled sequences; one result per id, in order."""
        rows = [self._rows[i] for i in seq_ids]
        if any(not r.prefilled for r in rows):
            raise ValueError(f"step() needs prefilled sequences; not ready: "
                             f"{[i for i, r in zip(seq_ids, rows, strict=True) if not r.prefilled]}")
        results: dict[int, StepResult] = {}
        with mx.stream(self._backend.stream()):
            if len(rows) == 1 and not rows[0].request.parameters.logprobs:
                self._sync_batch([])
                return [self._step_alone(rows[0])]
            for i, row in zip(seq_ids, rows, strict=True):
                if row.ahead is not None or row.failure is not None:
                    results[i] = self._take_ahead(row)  # computed by its last lone step
            rest = [i for i in seq_ids if i not in results]
            batched = [i for i in rest if self._rows[i].batchable]
            if len(batched) < 2:
                batched = []
            if batched and self._numpy_layers:  # numpy layers: each row keeps its own cache
                self._sync_batch([])
                results.update(self._step_rows(batched, row_caches([self._rows[i].cache.layers for i in batched])))
            else:
                self._sync_batch(batched)
                if self._members:
                    results.update(self._step_rows(self._members, self._batch))
            for i in rest:
                if i not in results:
                    results.update(self._step_rows([i], self._rows[i].cache.layers))
        return [results[i] for i in seq_ids]

    def _step_alone(self, row: Row) -> StepResult:
        """A lone sequence's step; pipelined (the next step queued first) unless on numpy layers."""
        pipeline = not (self._numpy_layers and row.batchable)
        if row.failure is not None or row.ahead is not None:
            return self._take_ahead(row, pipeline=pipeline)
        seq_id = row.request.seq_id
        try:
            y = row.setup.step(mx.array([row.next_input], dtype=mx.uint32))
            mx.async_eval(y)  # type: ignore[no-untyped-call]  # untyped in mlx's stubs
            row.cache.extend([row.next_input])
        except Exception as exc:
            return StepResult(seq_id, error=exc)
        return self._read(row, y, pipeline=pipeline)

    def _take_ahead(self, row: Row, *, pipeline: bool = False) -> StepResult:
        """The result a queued step computed (or the error it hit)."""
        failure, row.failure = row.failure, None
        if failure is not None:
            return StepResult(row.request.seq_id, error=failure)
        y, row.ahead = row.ahead, None
        assert y is not None
        return self._read(row, y, pipeline=pipeline)

    def _read(self, row: Row, y: mx.array, *, pipeline: bool) -> StepResult:
        """Queue the next step (feeding ``y``) unless past the token limit, then read ``y``."""
        seq_id = row.request.seq_id
        if pipeline and row.generated + 1 < row.request.control.max_tokens:
            try:
                row.ahead = row.setup.step(y)
                mx.async_eval(row.ahead)  # type: ignore[no-untyped-call]
            except Exception as exc:  # this token stands; the next result is the error
                row.ahead, row.failure = None, exc
        try:
            token = int(y.item())  # type: ignore[arg-type]  # mlx types item() as int|float|complex
        except Exception as exc:
            return StepResult(seq_id, error=exc)
        if row.ahead is not None:
            row.cache.extend([token])  # the queued step feeds it
        row.next_input = token
        row.generated += 1
        if row.generated % CLEAR_CACHE_EVERY == 0:
            memory.clear_cache()
        return StepResult(seq_id, token)

    def verify(self, seq_ids: Sequence[int], drafts: Sequence[Sequence[int]]) -> list[StepResult]:
        """One step that also scores each row's drafts in the same model call (verify.py).

        A lone row may have its next step queued already (``ahead``): that step's token is the
        sample at the first draft position, so it is taken first; when it equals the first
        draft, the rest of the draft is verified after it, else it is the row's result."""
        drafts = list(drafts)
        head: dict[int, int] = {}
        early: dict[int, StepResult] = {}
        for index, seq_id in enumerate(seq_ids):
            row = self._rows[seq_id]
            if row.ahead is None and row.failure is None:
                continue
            result = self._take_ahead(row)  # nothing queued after it
            draft = drafts[index]
            if result.error is None and draft and int(draft[0]) == result.token:
                head[seq_id] = result.token
                drafts[index] = draft[1:]
            else:
                early[seq_id] = result
        rest = [(i, d) for i, d in zip(seq_ids, drafts, strict=True) if i not in early]
        results = dict(early)
        if rest:
            for result in verify(self, [i for i, _ in rest], [d for _, d in rest]):
                first = head.get(result.seq_id)
                if first is not None:
                    result = dataclasses.replace(result, accepted=(first, *result.accepted))
                results[result.seq_id] = result
        return [results[i] for i in seq_ids]

    def verify_cost(self, lengths: Sequence[int]) -> float:
        """A step where row ``i`` verifies ``lengths[i]`` drafts, in positions (verify.py)."""
        return verify_cost(lengths, own_caches=self._numpy_layers)

    def _step_rows(self, ids: list[int], layers: Any) -> dict[int, StepResult]:
        """Feed each row its next input in one model call; sample every row on its own."""
        rows = [self._rows[i] for i in ids]
        inputs = mx.array([[r.next_input] for r in rows], dtype=mx.uint32)
        with model_call(blas_threads_of(self._model)):
            logits = self._model(inputs, cache=layers)[:, -1, :]
        if len(ids) == 1:
            rows[0].setup.quantize_kv()
        pending: dict[int, tuple[mx.array, ...]] = {}
        failed: dict[int, BaseException] = {}
        plain = [k for k, r in enumerate(rows) if plain_greedy(r)]
        if len(plain) > 1:  # one numpy argmax for all of them (see rows.plain_greedy)
            chosen = logits if len(plain) == len(rows) else logits[mx.array(plain)]
            tokens = np.asarray(chosen.astype(mx.float32)).argmax(axis=-1)
            pending.update((ids[k], (mx.array(tokens[j:j + 1]),)) for j, k in enumerate(plain))
        for index, (seq_id, row) in enumerate(zip(ids, rows, strict=True)):
            row.cache.extend([row.next_input])
            if seq_id in pending:
                continue
            try:
                pending[seq_id] = sample_row(row, logits[index:index + 1], inputs[index])
            except Exception as exc:
                failed[seq_id] = exc
        try:
            mx.eval([a for arrays in pending.values() for a in arrays])
        except Exception:
            for seq_id, arrays in list(pending.items()):
                try:
                    mx.eval(list(arrays))
                except Exception as exc:
                    failed[seq_id] = exc
                    del pending[seq_id]
        results = {i: StepResult(i, error=e) for i, e in failed.items()}
        for seq_id, arrays in pending.items():
            results[seq_id] = row_result(self._rows[seq_id], arrays)
        return results

    def _sync_batch(self, ids: list[int]) -> None:
        """Make the batch caches hold exactly ``ids``' rows: extract leavers, merge newcomers."""
        if ids == self._members:
            return
        wanted = set(ids)
        keep = [k for k, s in enumerate(self._members) if s in wanted]
        for k, s in enumerate(self._members):
            if s not in wanted:
                self._extract(k, s)
        members = [self._members[k] for k in keep]
        if self._batch is not None and len(keep) < len(self._members):
            if keep:
                for layer in self._batch:
                    layer.filter(mx.array(keep))
            else:
                self._batch = None
        newcomers = [s for s in ids if s not in set(members)]
        if newcomers:
            per_layer = zip(*(self._rows[s].cache.layers or [] for s in newcomers), strict=True)
            merged = [BatchKVCache.merge(list(layer)) for layer in per_layer]
            if self._batch is None:
                self._batch = merged
            else:
                for layer, extra in zip(self._batch, merged, strict=True):
                    layer.extend(extra)
            for s in newcomers:  # the batch holds their keys/values now
                self._rows[s].cache.layers = None
            members += newcomers
        self._members = members

    def _extract(self, index: int, seq_id: int) -> None:
        """Copy one member's keys/values out of the batch back into its own layer caches."""
        assert self._batch is not None
        row = self._rows[seq_id]
        layers = [layer.extract(index) for layer in self._batch]
        row.cache.layers = layers

    def remove(self, seq_id: int) -> None:
        """Free the sequence's slot; its prompt cache keeps exactly the ids it was fed."""
        row = self._rows.get(seq_id)
        if row is None:
            return
        with mx.stream(self._backend.stream()):
            if row.ahead is not None:  # finish the queued step so its buffers are released
                with contextlib.suppress(Exception):  # its error would hide nothing useful here
                    mx.eval(row.ahead)
                row.ahead = None
            if seq_id in self._members:
                self._sync_batch([s for s in self._members if s != seq_id])
            if row.partial is not None:  # a chunk stopped part-way: its layers' entries go
                row.partial.discard()
            del self._rows[seq_id]
            if len(self._members) == 1:  # a batch of one is stepped alone
                self._sync_batch([])
            control = row.request.control
            if not row.prefilled:
                control.mark_prefill_done(row.done, row.cached)
            figures = control.memory
            figures["after_decode_bytes"] = memory.active_bytes()
            figures["peak_bytes"] = memory.peak_bytes()
            figures["kv_cache_allocated_bytes"] = row.cache.nbytes
            figures["kv_cache_used_bytes"] = row.cache.used_bytes
            if row.owned:
                row.cache.reset()
            if not self._rows:
                memory.clear_cache()

    def close(self) -> None:
        """Forget every sequence (their caches stay as ``remove`` would leave them)."""
        for seq_id in list(self._rows):
            self.remove(seq_id)
