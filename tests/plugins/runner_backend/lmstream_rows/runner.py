"""The rows runner: per-sequence logits rows, the constraint's mask applied to them, greedy.

Each step builds one logits row per sequence: the next byte of the reply that the
constraint allows scores highest, then EOS once the reply is out, then every other token
(smaller ids first, whitespace last). The row is masked with ``control.constraint.mask()``
(forbidden tokens get -inf), the best token is taken and fed back with ``advance``.
"""

from __future__ import annotations

import math
import time
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from lmstream import ListPromptCache
from lmstream.backend import BatchRunner, SequenceRequest, StepResult, common_prefix_length

from .options import RowsOptions

EOS = 256
VOCAB_SIZE = 257
_WHITESPACE = [9, 10, 13, 32]


def _prior() -> NDArray[np.float64]:
    row = -np.arange(VOCAB_SIZE, dtype=np.float64) / VOCAB_SIZE
    row[_WHITESPACE] -= 1.0
    row[EOS] = -2.0
    return row


PRIOR = _prior()


class StepFailure(RuntimeError):
    """The error a step returns at ``fail_at``."""


@dataclass
class _Row:
    request: SequenceRequest
    todo: list[int]
    cached: int
    done: int = 0
    position: int = 0
    """Index of the next reply byte."""
    generated: int = 0
    previous: int | None = None


class RowsRunner(BatchRunner):
    """Steps every sequence of the rows model together (``max_batch_size`` rows)."""

    def __init__(self, options: RowsOptions, reply: Sequence[int], max_batch_size: int = 8) -> None:
        self._options = options
        self._reply = list(reply)
        self.max_batch_size = max_batch_size
        self._rows: dict[int, _Row] = {}

    def add(self, request: SequenceRequest) -> None:
        """Reuse the cache's common prefix (one prompt token is always prefilled)."""
        if not request.prompt:
            raise ValueError("the prompt is empty")
        cache = request.cache
        if cache is not None and not isinstance(cache, ListPromptCache):
            raise TypeError("this cache belongs to another backend")
        prompt = list(request.prompt)
        cached = 0
        if cache is not None:
            cached = min(common_prefix_length(cache.tokens, prompt), len(prompt) - 1)
            cache.trim_to(cached)
        self._rows[request.seq_id] = _Row(request, prompt[cached:], cached)
        request.control.prefill_progress(0, len(prompt) - cached)

    def prefill(self, seq_id: int, max_tokens: int) -> bool:
        """Feed up to ``max_tokens`` prompt ids to the cache."""
        row = self._rows[seq_id]
        chunk = row.todo[row.done:row.done + max(1, max_tokens)]
        if row.request.cache is not None:
            row.request.cache.tokens.extend(chunk)
        row.done += len(chunk)
        control = row.request.control
        control.prefill_progress(row.done, len(row.todo))
        if row.done < len(row.todo):
            return False
        control.mark_prefill_done(len(row.todo), row.cached)
        return True

    def step(self, seq_ids: Sequence[int]) -> list[StepResult]:
        """One token per sequence; ``token_delay`` once per step (woken by cancels)."""
        rows = [self._rows[i] for i in seq_ids]
        if self._options.token_delay:
            deadline = time.monotonic() + self._options.token_delay
            while time.monotonic() < deadline and not all(r.request.control.cancelled for r in rows):
                time.sleep(0.002)
        return [self._next(row) for row in rows]

    def _next(self, row: _Row) -> StepResult:
        request = row.request
        seq_id = request.seq_id
        control = request.control
        if row.generated >= control.max_tokens:
            return StepResult(seq_id, error=RuntimeError("stepped past control.max_tokens"))
        if self._options.fail_at is not None and row.generated == self._options.fail_at:
            return StepResult(seq_id, error=StepFailure(f"failure at step {row.generated}"))
        if row.previous is not None and request.cache is not None:
            request.cache.tokens.append(row.previous)
        try:
            mask = None if control.constraint is None else control.constraint.mask()
            logits, target = self._logits(row, mask)
            if mask is not None:
                width = min(len(mask), VOCAB_SIZE)
                allowed = np.zeros(VOCAB_SIZE, dtype=np.bool_)
                allowed[:width] = mask[:width]
                logits = np.where(allowed, logits, -math.inf)
            token = int(np.argmax(logits))
            if control.constraint is not None and token != EOS:
                control.constraint.advance(token)
        except Exception as exc:  # the constraint failed: only this row ends
            return StepResult(seq_id, error=exc)
        if target is not None and token == self._reply[target]:
            row.position = target + 1
        row.generated += 1
        row.previous = token
        if not request.parameters.logprobs:
            return StepResult(seq_id, token)
        finite = logits[np.isfinite(logits)]
        logprobs = logits - (finite.max() + math.log(np.exp(finite - finite.max()).sum()))
        count = request.parameters.top_logprobs
        best = np.argsort(-logprobs, kind="stable")[:count]
        top = tuple((int(i), float(logprobs[i])) for i in best if np.isfinite(logprobs[i]))
        return StepResult(seq_id, token, float(logprobs[token]), top)

    def _logits(self, row: _Row, mask: NDArray[np.bool_] | None) -> tuple[NDArray[np.float64], int | None]:
        """The row's logits, and the index of the reply byte they favour (None: EOS)."""
        logits = PRIOR.copy()
        target = row.position
        while target < len(self._reply) and mask is not None and not (
                self._reply[target] < len(mask) and mask[self._reply[target]]):
            target += 1  # the mask forbids this reply byte: the model 'skips' it
        if target < len(self._reply):
            logits[self._reply[target]] = 10.0
            return logits, target
        logits[EOS] = 5.0
        return logits, None

    def remove(self, seq_id: int) -> None:
        """Forget the sequence (its cache holds exactly the ids fed)."""
        self._rows.pop(seq_id, None)
