"""Cache jobs that wait for the generations submitted before them (``when_cache_free``).

A chat turn's snapshot or a rollback's trim edits a caller's prompt cache; it must run after
every generation submitted before it that uses that cache has ended, and generations submitted
after it with the same cache must not start before it ran, so cache edits keep submission order.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable

from ..model import PromptCache
from ._sequence import ActiveSequence

logger = logging.getLogger("lmstream.scheduler")


class CacheJobs:
    """Deferred cache jobs of one scheduler, as (barrier id, cache, job) in submission order."""

    def __init__(self, sequences: Callable[[], Iterable[ActiveSequence]]) -> None:
        self._sequences = sequences
        """Every generation the scheduler holds (queued, prefilling or decoding)."""
        self._jobs: list[tuple[int, PromptCache, Callable[[], None]]] = []

    def __bool__(self) -> bool:
        return bool(self._jobs)

    def add(self, barrier: int, cache: PromptCache, job: Callable[[], None]) -> None:
        """Run ``job`` once the generations with ids below ``barrier`` using ``cache`` ended
        (now, when none does and no earlier job for ``cache`` waits)."""
        if self._uses(cache, barrier) or any(c is cache for _, c, _ in self._jobs):
            self._jobs.append((barrier, cache, job))
        else:
            job()

    def blocks(self, sequence: ActiveSequence) -> bool:
        """True while a cache job submitted before ``sequence`` has not run yet."""
        cache = sequence.plan.cache
        return cache is not None and any(
            c is cache and barrier <= sequence.seq_id for barrier, c, _ in self._jobs)

    def run_ready(self) -> None:
        """Run the jobs, in order, whose earlier generations have all ended."""
        jobs = self._jobs
        while jobs:
            barrier, cache, job = jobs[0]
            if self._uses(cache, barrier):
                # a later job for another cache may be ready: look past this one
                for entry in [d for d in jobs[1:] if d[1] is not cache]:
                    if not self._uses(entry[1], entry[0]) and not any(
                            d[1] is entry[1] and d[0] < entry[0] for d in jobs):
                        jobs.remove(entry)
                        _run(entry[2])
                return
            jobs.pop(0)
            _run(job)

    def _uses(self, cache: PromptCache, before: int) -> bool:
        return any(s.plan.cache is cache and s.seq_id < before for s in self._sequences())


def _run(job: Callable[[], None]) -> None:
    try:
        job()
    except BaseException:
        logger.exception("a deferred cache job failed")
