"""The scripted model's batch runner: many scripted replies stepped together, as a real batch.

One ``step`` costs ``token_delay`` once for the whole batch (as one batched forward pass does),
so tests and demos see what batching buys; prefill costs ``prefill_delay`` per prompt token.
"""

from __future__ import annotations

import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass

from lmstream.backend import (
    BatchRunner,
    SequenceEnded,
    SequenceRequest,
    StepResult,
    common_prefix_length,
)

from .script import Script, ScriptedCache, ScriptedFailure
from .verify import MAX_DRAFT_TOKENS, verify_rows

CANCEL_POLL_S = 0.002
"""How often a step's simulated compute looks for cancels."""
UNLIKELY_LOGPROB = -9999.0
"""Logprob reported for alternatives the script never picks (OpenAI's figure for ~0)."""


@dataclass
class _Row:
    """One sequence's scripted state."""

    request: SequenceRequest
    todo: list[int]
    cached: int
    source: Iterator[int]
    fails: bool = False
    done: int = 0
    index: int = 0
    previous: int | None = None
    chunk: list[int] | None = None
    """The chunk being prefilled when the runner stopped part-way (``prefill_parts``)."""
    parts: int = 0
    """Parts of ``chunk`` computed so far."""


class ScriptedBatchRunner(BatchRunner):
    """Steps scripted sequences together; honours caches, delays, ``fail_at`` and logprobs."""

    max_draft_tokens = MAX_DRAFT_TOKENS

    def __init__(self, model: Script, max_batch_size: int = 8) -> None:
        self._model = model
        self.max_batch_size = max_batch_size
        self._rows: dict[int, _Row] = {}

    def add(self, request: SequenceRequest) -> None:
        """Reuse the cache's common prefix and pick this sequence's reply."""
        model = self._model
        cache = request.cache
        if cache is not None and not isinstance(cache, ScriptedCache):
            raise TypeError("this cache belongs to another backend")
        prompt = list(request.prompt)
        cached = 0
        if cache is not None:
            cached = min(common_prefix_length(cache.tokens, prompt), len(prompt) - 1)
            cache.trim_to(cached)
        source = model.token_source(prompt, request.control.constraint, request.parameters)
        fails = model.fails_for(prompt)
        self._rows[request.seq_id] = _Row(request, prompt[cached:], cached, source, fails)

    def prefill(self, seq_id: int, max_tokens: int) -> bool:
        """Prefill up to ``max_tokens`` prompt tokens (``prefill_delay`` each, cancellable), in
        ``prefill_parts`` parts; a chunk stopped part-way (``interrupt``) goes on first."""
        row = self._rows[seq_id]
        control = row.request.control
        options = self._model.options
        if row.chunk is None:
            row.chunk, row.parts = row.todo[row.done:row.done + max_tokens], 0
        chunk, ran = row.chunk, False
        while chunk and row.parts < options.prefill_parts:
            if ran and self.interrupt is not None and self.interrupt():
                return False  # the next call goes on with this chunk
            ran = True
            if not control.sleep(options.prefill_delay * len(chunk) / options.prefill_parts):
                row.chunk = None
                return False
            row.parts += 1
        row.chunk = None
        if row.request.cache is not None:
            row.request.cache.tokens.extend(chunk)
        row.done += len(chunk)
        control.prefill_progress(row.done, len(row.todo))
        if row.done < len(row.todo):
            return False
        control.mark_prefill_done(len(row.todo), row.cached)
        return True

    def step(self, seq_ids: Sequence[int]) -> list[StepResult]:
        """One scripted token per sequence; ``token_delay`` once for the whole batch."""
        rows = [self._rows[seq_id] for seq_id in seq_ids]
        delay = self._model.options.token_delay
        if delay:
            _sleep_unless_all_cancelled(delay, rows)
        return [self._next(row) for row in rows]

    def verify(self, seq_ids: Sequence[int], drafts: Sequence[Sequence[int]]) -> list[StepResult]:
        """A step that also checks drafts (see ``verify``); ``token_delay`` once for the batch."""
        rows = [self._rows[seq_id] for seq_id in seq_ids]
        if self._model.options.token_delay:
            _sleep_unless_all_cancelled(self._model.options.token_delay, rows)
        return verify_rows(self._next, rows, drafts)

    def _next(self, row: _Row) -> StepResult:
        request = row.request
        seq_id = request.seq_id
        if row.previous is not None and request.cache is not None:
            request.cache.tokens.append(row.previous)  # the previous token is now in the KV cache
        if row.fails and row.index == self._model.options.fail_at:
            row.previous = None
            return StepResult(seq_id, error=ScriptedFailure(f"scripted failure at token {row.index}"))
        try:
            token = next(row.source, None)
        except Exception as exc:  # this row's constraint failed (a limit, a dead end): only this row
            row.previous = None
            return StepResult(seq_id, error=exc)
        if token is None:
            row.previous = None
            return StepResult(seq_id, error=SequenceEnded())
        row.index += 1
        row.previous = token
        parameters = request.parameters
        if not parameters.logprobs:
            return StepResult(seq_id, token)
        others = _alternatives(token, parameters.top_logprobs - 1)
        top = ((token, 0.0), *((other, UNLIKELY_LOGPROB) for other in others))
        return StepResult(seq_id, token, 0.0, top if parameters.top_logprobs else ())

    def remove(self, seq_id: int) -> None:
        """Forget the sequence (its cache already holds exactly the tokens fed)."""
        self._rows.pop(seq_id, None)


def _sleep_unless_all_cancelled(seconds: float, rows: list[_Row]) -> None:
    """Sleep ``seconds``, returning early once every row's consumer has cancelled."""
    deadline = time.monotonic() + seconds
    while True:
        remaining = deadline - time.monotonic()
        if remaining <= 0 or all(row.request.control.cancelled for row in rows):
            return
        time.sleep(min(remaining, CANCEL_POLL_S))


def _alternatives(token: int, count: int) -> list[int]:
    """``count`` deterministic token ids other than ``token`` (the script's unpicked choices)."""
    return [t for t in range(count + 1) if t != token][:max(count, 0)]
