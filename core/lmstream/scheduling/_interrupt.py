"""When a running prefill chunk should stop part-way (``BatchRunner.interrupt``).

A chunk is sized to the scheduler's ``prefill_chunk_s``, so a request arriving while a long
prompt prefills used to wait for the rest of the running chunk (up to that budget, more when
the measured rate was stale) before it was even admitted. A runner that can stop between the
parts of a chunk (the MLX runner on CPU: between decoder layers, a few ms each) asks the
lane's ``ChunkInterrupt`` between them; it says stop when a job waits for the worker (a
newcomer, a cancel, a read of a paused stream: the worker runs jobs only between pump slices)
or when the chunk has run ``CHUNK_OVERRUN`` times its budget. The chunk then goes on where it
stopped at the sequence's next ``prefill``; its parts' seconds are summed before the policy
learns the rate from it (``PrefillPolicy.learn``).
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable

CHUNK_OVERRUN = 1.25
"""A chunk stops once it has run this many times its budget (the measured rate was stale)."""


def _no_jobs() -> bool:
    return False


class ChunkInterrupt:
    """``BatchRunner.interrupt`` of one scheduler lane (called on the worker thread only)."""

    def __init__(self) -> None:
        self.jobs_waiting: Callable[[], bool] = _no_jobs
        """True while a job waits for the worker (the context wires its worker's queue in)."""
        self._deadline = math.inf

    def __call__(self) -> bool:
        """Whether the running chunk should stop at its next boundary."""
        return time.perf_counter() > self._deadline or self.jobs_waiting()

    def start(self, seconds: float) -> float:
        """A chunk with a budget of ``seconds`` starts now; returns the start time."""
        now = time.perf_counter()
        self._deadline = now + max(seconds, 0.0) * CHUNK_OVERRUN
        return now

    def stop(self) -> None:
        """The chunk's call returned: no deadline until the next one starts."""
        self._deadline = math.inf
