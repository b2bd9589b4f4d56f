"""The context's worker loop: a worker thread, the scheduler that batches sequences between
decode steps, and one sequence's state from admission to its final Info."""

from __future__ import annotations

from ._scheduler import DEFAULT_PREFILL_CHUNK_S, Scheduler
from ._sequence import SequencePlan
from ._worker import Worker

__all__ = [
    "DEFAULT_PREFILL_CHUNK_S",
    "Scheduler",
    "SequencePlan",
    "Worker",
]
