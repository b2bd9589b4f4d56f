"""Choosing a backend's runner, and the adapter that runs token iterators as a runner.

``open_runner`` is the one place that decides how a backend computes: its ``BatchRunner``
(the contract) when it has one, else its ``token_iterator`` through ``IteratorRunner``.
Backends that implement only ``BackendModel.token_iterator`` (and users' own iterators from
``generate_token_task``) are stepped by pulling one token from each iterator. The iterator
prefills inside its first ``next()`` (checking ``control.cancelled`` between its chunks), so
``prefill`` here only creates it. For a backend the scheduler admits one sequence at a time.
"""

from __future__ import annotations

import logging
import operator
from collections.abc import Callable, Iterable, Iterator, Sequence
from typing import Any

from ..model import (
    BackendModel,
    BatchRunner,
    GenerationControl,
    SequenceEnded,
    SequenceRequest,
    StepResult,
    check_backend,
)
from ..protocol import check_token_id
from ..protocol import frozen_factory as _frozen_factory

logger = logging.getLogger("lmstream.scheduler")

IteratorFactory = Callable[[GenerationControl], Iterable[Any]]
_new_result = _frozen_factory(StepResult)
"""``StepResult(seq_id, token)``, built once per token (see protocol.frozen_factory)."""


def open_runner(backend: BackendModel, *, batching: bool = True,
                max_batch_size: int | None = None) -> BatchRunner:
    """The runner that computes ``backend``'s sequences (called once, at load, on the worker).

    The backend's own runner when it has one (``batching=False`` keeps it to one row), else
    its token iterator behind the adapter; TypeError for a backend that has neither.
    """
    check_backend(backend)
    runner = None
    if batching or not backend.has_token_iterator():
        runner = backend.new_batch_runner()
        if runner is not None and not batching:
            runner.max_batch_size = 1
    if runner is None:
        if not backend.has_token_iterator():
            raise TypeError(f"backend model {type(backend).__name__}.new_batch_runner() returned "
                            "None and it has no token_iterator()")
        return IteratorRunner(backend, max_batch_size=1)
    if max_batch_size is not None and batching:
        runner.max_batch_size = max_batch_size
    return runner


class IteratorRunner(BatchRunner):
    """Steps each sequence by pulling its iterator; ``max_batch_size`` bounds admission."""

    def __init__(self, backend: BackendModel | None, max_batch_size: int = 1) -> None:
        self._backend = backend
        self.max_batch_size = max_batch_size
        self._factories: dict[int, IteratorFactory] = {}
        self._requests: dict[int, SequenceRequest] = {}
        self._iterators: dict[int, Iterator[Any]] = {}
        self._bare: set[int] = set()
        """Sequences whose bare int items need no checks (no logprobs asked)."""

    def set_factory(self, seq_id: int, factory: IteratorFactory) -> None:
        """Use ``factory`` (a user iterator) instead of the backend's token_iterator."""
        self._factories[seq_id] = factory

    def add(self, request: SequenceRequest) -> None:
        """Remember the sequence; its iterator is made on the first ``prefill``."""
        self._requests[request.seq_id] = request
        if not request.parameters.logprobs:
            self._bare.add(request.seq_id)

    def prefill(self, seq_id: int, max_tokens: int) -> bool:
        """Create the iterator (it prefills inside its first ``next``)."""
        request = self._requests[seq_id]
        factory = self._factories.pop(seq_id, None)
        if factory is not None:
            self._iterators[seq_id] = iter(factory(request.control))
        else:
            assert self._backend is not None
            self._iterators[seq_id] = iter(self._backend.token_iterator(
                request.prompt, request.parameters, request.cache, request.control))
        return True

    def step(self, seq_ids: Sequence[int]) -> list[StepResult]:
        """Pull one token from each sequence's iterator."""
        results = []
        for seq_id in seq_ids:
            item = self.next_token(seq_id)
            results.append(item if isinstance(item, StepResult) else _new_result(seq_id, item))
        return results

    def next_token(self, seq_id: int) -> int | StepResult:
        """Pull one token from one sequence's iterator: a bare id in the common case (no
        logprobs asked, the iterator yielded an int), else a StepResult (failures included)."""
        try:
            item = next(self._iterators[seq_id])
            if type(item) is int and seq_id in self._bare:
                return item
            return _as_result(seq_id, item, self._requests[seq_id])
        except StopIteration:
            return StepResult(seq_id, error=SequenceEnded())
        except BaseException as exc:
            return StepResult(seq_id, error=exc)

    def remove(self, seq_id: int) -> None:
        """Close the sequence's iterator (the backend releases per-generation state)."""
        self._requests.pop(seq_id, None)
        self._bare.discard(seq_id)
        self._factories.pop(seq_id, None)
        iterator = self._iterators.pop(seq_id, None)
        close = getattr(iterator, "close", None)
        if close is not None:
            try:
                close()
            except Exception:
                logger.exception("closing the token iterator failed")

    def close(self) -> None:
        """Close every open iterator."""
        for seq_id in list(self._iterators):
            self.remove(seq_id)


def _as_result(seq_id: int, item: Any, request: SequenceRequest) -> StepResult:
    """An iterator's item as a StepResult: a token id (int-like) or a StepResult itself."""
    if isinstance(item, StepResult):
        return StepResult(seq_id, item.token, item.logprob, item.top_logprobs, item.error)
    if type(item) is not int:
        item = _as_token_id(item)
    if request.parameters.logprobs:
        raise ValueError("this token iterator yields bare token ids, so it cannot report "
                         "logprobs (runners report them); load the backend with batching (the "
                         "default) if it has a runner, or drop logprobs")
    return StepResult(seq_id, item)


def _as_token_id(value: Any) -> int:
    """A backend iterator's item as a token id: ints and int-like scalars (numpy integers,
    mlx 0-d integer arrays) from 0 to MAX_TOKEN_ID; anything else (a float, a bool, a
    string, a negative id) is the same clear error as for a user's iterator."""
    check_token_id(value, "token iterator item")
    return operator.index(value)
