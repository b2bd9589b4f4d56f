"""The adapter that runs token iterators under the scheduler, through the BatchRunner contract.

Backends that implement only ``BackendModel.token_iterator`` (and users' own iterators from
``generate_token_task``) are stepped by pulling one token from each iterator. The iterator
prefills inside its first ``next()`` (checking ``control.cancelled`` between its chunks), so
``prefill`` here only creates it. For a backend the scheduler admits one sequence at a time.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Iterator, Sequence
from typing import Any

from .backend import BackendModel, GenerationControl
from .batching import BatchRunner, SequenceEnded, SequenceRequest, StepResult

logger = logging.getLogger("lmstream.scheduler")

IteratorFactory = Callable[[GenerationControl], Iterable[Any]]


class IteratorRunner(BatchRunner):
    """Steps each sequence by pulling its iterator; ``max_batch_size`` bounds admission."""

    def __init__(self, backend: BackendModel | None, max_batch_size: int = 1) -> None:
        self._backend = backend
        self.max_batch_size = max_batch_size
        self._factories: dict[int, IteratorFactory] = {}
        self._requests: dict[int, SequenceRequest] = {}
        self._iterators: dict[int, Iterator[Any]] = {}

    def set_factory(self, seq_id: int, factory: IteratorFactory) -> None:
        """Use ``factory`` (a user iterator) instead of the backend's token_iterator."""
        self._factories[seq_id] = factory

    def add(self, request: SequenceRequest) -> None:
        """Remember the sequence; its iterator is made on the first ``prefill``."""
        self._requests[request.seq_id] = request

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
        iterators = self._iterators
        for seq_id in seq_ids:
            try:
                item = next(iterators[seq_id])
                if type(item) is not int or self._requests[seq_id].parameters.logprobs:
                    results.append(_as_result(seq_id, item, self._requests[seq_id]))
                else:
                    results.append(StepResult(seq_id, item))  # the common case: a bare id
            except StopIteration:
                results.append(StepResult(seq_id, error=SequenceEnded()))
            except BaseException as exc:
                results.append(StepResult(seq_id, error=exc))
        return results

    def remove(self, seq_id: int) -> None:
        """Close the sequence's iterator (the backend releases per-generation state)."""
        self._requests.pop(seq_id, None)
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
        raise ValueError("this backend's token iterator yields bare token ids, so it cannot "
                         "report logprobs; load it with batching (the default) or drop logprobs")
    return StepResult(seq_id, item)


def _as_token_id(value: Any) -> int:
    """Accept ints and int-like scalars (numpy / mlx 0-d arrays) from user iterators."""
    if isinstance(value, bool) or isinstance(value, float):
        raise TypeError(f"token iterator yielded {value!r}, which is not a token id (int)")
    try:
        index = value.__index__()
    except (AttributeError, TypeError):
        try:
            return int(value)
        except (TypeError, ValueError):
            raise TypeError(f"token iterator yielded {value!r}, which is not a token id (int)") from None
    return int(index)
