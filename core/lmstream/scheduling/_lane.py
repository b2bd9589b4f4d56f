"""One scheduler lane: a runner and the sequences it holds, with its prefill policy and burst."""

from __future__ import annotations

import contextlib
from collections import deque
from collections.abc import Callable

from ..model import BatchRunner, StepResult
from ._burst import Burst
from ._interrupt import ChunkInterrupt
from ._iterator_runner import IteratorRunner
from ._prefill_policy import PrefillPolicy
from ._sequence import ActiveSequence


class Lane:
    """One runner and the sequences it holds (the backend's batch, or user iterators)."""

    def __init__(self, runner: BatchRunner, capacity: int, prefill_chunk_s: float) -> None:
        self.runner = runner
        self.burst = Burst(prefill_chunk_s)
        self.capacity = capacity
        self.waiting: deque[ActiveSequence] = deque()
        self.prefilling: list[ActiveSequence] = []
        self.decoding: list[ActiveSequence] = []
        self.next_token: Callable[[int], int | StepResult] | None = (
            runner.next_token if isinstance(runner, IteratorRunner) else None)
        """Steps one sequence without the batch lists (the iterator adapter has it)."""
        self.policy = PrefillPolicy(pacing=self.next_token is None)
        self.prefill_many: Callable[[list[int], list[int]], list[bool]] | None = (
            runner.prefill_many if runner.shares_prefill else None)
        """Prefills several sequences in shared model calls (the MLX runner has it)."""
        self.interrupt = ChunkInterrupt()
        """When a running prefill chunk stops part-way (runners that can stop ask it)."""
        with contextlib.suppress(AttributeError):  # one that cannot take it runs chunks whole
            runner.interrupt = self.interrupt

    def active(self) -> int:
        """Sequences admitted (prefilling or decoding)."""
        return len(self.prefilling) + len(self.decoding)
