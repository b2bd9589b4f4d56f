"""The continuous-batching scheduler that owns a context's worker loop.

Between decode steps it admits queued generations (up to the runner's ``max_batch_size``),
prefills for a time budget (``prefill_chunk_s``, so running streams never freeze for longer
than about that and a cancel during prefill lands fast), then steps every ready sequence in one
``BatchRunner.step`` call. A finished, cancelled or failed sequence leaves at once; a stream
whose consumer stopped reading (buffer full) is skipped until read.

Chunks go shortest prompt first with ageing, and prefill yields to streams admitted after the
prompt it works on (``_prefill_policy``), so a short request is not stuck behind a long one.
A burst (arrivals while an idle context prefills) starts decoding as one batch, waiting at most
a window of prefill budgets while its shortest prompt left fits it (``_burst``). Short prompts
waiting together go to the runner's ``prefill_many`` (when it has one: shared model calls) in
one call, as many as the round (in a burst: its window) covers. A generation without a cache
of its own forks the longest cached prefix from the prefix cache at admission and offers its
cache back when it ends (an untrimmable one also as checkpoints, ``_sharing``).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterator

from ..model import BackendModel, Drafter, PromptCache, SequenceEnded, StepResult
from ..protocol import StopReason
from ._cache_jobs import CacheJobs
from ._iterator_runner import IteratorRunner, open_runner
from ._lane import Lane as _Lane
from ._sequence import ActiveSequence, SequencePlan
from ._sharing import CacheSharing
from ._speculation import speculating

logger = logging.getLogger("lmstream.scheduler")

DEFAULT_PREFILL_CHUNK_S = 0.25
"""Target seconds per prefill chunk while other sequences wait."""


class Scheduler:
    """Admission, chunked prefill and batched decode for one context, on its worker thread."""

    def __init__(self, backend: BackendModel, *, batching: bool = True,
                 max_batch_size: int | None = None, prefill_chunk_s: float = DEFAULT_PREFILL_CHUNK_S,
                 prefix_cache_bytes: int | None = None, drafter: Drafter | None = None,
                 **checkpoints: int) -> None:
        self._sharing = CacheSharing(backend, prefix_cache_bytes, **checkpoints)
        self.prefix_cache = self._sharing.cache
        """KV states shared across generations (see ``_prefix_cache``)."""
        runner = open_runner(backend, batching=batching, max_batch_size=max_batch_size)
        self.batching = not isinstance(runner, IteratorRunner)
        self._backend_lane = _Lane(speculating(runner, drafter), max(1, runner.max_batch_size),
                                   prefill_chunk_s)
        self._iterators = IteratorRunner(None, max_batch_size=1 << 30)
        self._iterator_lane = _Lane(self._iterators, 1 << 30, prefill_chunk_s)
        self._lanes = (self._backend_lane, self._iterator_lane)
        self._next_id = 1
        self._prefill_chunk_s = prefill_chunk_s
        self._cache_jobs = CacheJobs(self._sequences)
        """Cache jobs waiting for the generations submitted before them."""

    @property
    def max_batch_size(self) -> int:
        """Sequences the backend steps together at most."""
        return self._backend_lane.capacity

    def interrupt_when(self, jobs_waiting: Callable[[], bool]) -> None:
        """Let prefill chunks stop part-way while ``jobs_waiting()`` (the worker's queue)."""
        for lane in self._lanes:
            lane.interrupt.jobs_waiting = jobs_waiting

    # -- submission (worker thread) -------------------------------------------------------
    def admit(self, plan: SequencePlan) -> None:
        """Queue a generation (a worker job: runs between steps)."""
        sequence = ActiveSequence(self._next_id, plan)
        self._next_id += 1
        lane = self._iterator_lane if plan.iterator is not None else self._backend_lane
        if plan.iterator is not None:
            self._iterators.set_factory(sequence.seq_id, plan.iterator)
        lane.waiting.append(sequence)

    def when_cache_free(self, cache: PromptCache, job: Callable[[], None]) -> None:
        """Run ``job`` once the generations submitted before it that use ``cache`` have ended.

        Generations submitted after it with the same cache start only after the job ran, so
        cache edits (a chat turn's snapshot, a rollback's trim) keep submission order.
        """
        self._cache_jobs.add(self._next_id, cache, job)

    def _sequences(self) -> Iterator[ActiveSequence]:
        for lane in self._lanes:
            for group in (lane.waiting, lane.prefilling, lane.decoding):
                yield from group

    # -- the Pump protocol (worker thread) ------------------------------------------------
    def has_work(self) -> bool:
        """True while any generation is queued or running."""
        return any(lane.waiting or lane.active() for lane in self._lanes)

    def busy(self) -> bool:
        """True when a slice of work can run now (something to admit, prefill or step)."""
        for lane in self._lanes:
            if lane.prefilling:
                return True
            if lane.waiting and (lane.active() < lane.capacity
                                 or any(s.cancelled for s in lane.waiting)):
                return True
            for sequence in lane.decoding:
                channel = sequence.channel
                if not channel.paused or channel.cancelled:
                    return True
        return False

    def cancel_blocked(self) -> None:
        """Cancel every generation (the context is closing and some cannot progress)."""
        for lane in self._lanes:
            for group in (lane.waiting, lane.prefilling, lane.decoding):
                for sequence in group:
                    sequence.channel.cancel(wake_producer=False)
            self._retire_cancelled(lane)
            while lane.waiting:
                self._end(lane, lane.waiting.popleft(), StopReason.CANCELLED, None, added=False)

    def run_once(self) -> None:
        """Admit, prefill for about ``prefill_chunk_s``, step every ready sequence once."""
        for lane in self._lanes:
            if lane.waiting or lane.prefilling:
                self._retire_cancelled(lane)
                self._admit(lane)
                if lane.prefilling:
                    burst = lane.burst.active(lane.decoding)
                    self._prefill(lane, burst)
                    if burst and lane.burst.holds(lane.policy, lane.prefilling,
                                                  lane.active() < lane.capacity):
                        continue  # the worker admits whoever arrived meanwhile, then comes back
                    started = time.perf_counter()
                    self._step(lane)
                    lane.policy.stepped(time.perf_counter() - started)
                    lane.burst.end()
                    continue
            elif not lane.decoding:
                continue  # an idle lane (the user-iterator one, mostly) costs nothing per token
            self._step(lane)  # retires cancelled decoding sequences itself
            lane.burst.end()
        if self._cache_jobs:
            self._cache_jobs.run_ready()

    # -- slices ---------------------------------------------------------------------------
    def _admit(self, lane: _Lane) -> None:
        if not lane.waiting or lane.active() >= lane.capacity:
            return
        for sequence in list(lane.waiting):
            if lane.active() >= lane.capacity:
                return
            if self._cache_jobs and self._cache_jobs.blocks(sequence):
                continue
            lane.waiting.remove(sequence)
            try:
                reason = sequence.start()
                if reason is not None:
                    self._end(lane, sequence, reason, None, added=False)
                    continue
                if self._sharing.active and sequence.plan.cache is None and (
                        lane is self._backend_lane):
                    self._sharing.borrow(sequence, checkpoints=self.batching)
                lane.runner.add(sequence.request)
            except BaseException as exc:
                self._end(lane, sequence, StopReason.ERROR, exc, added=False)
                continue
            lane.prefilling.append(sequence)

    def _prefill(self, lane: _Lane, burst: bool) -> None:
        """Prefill chunks, of one prompt or several, for about ``prefill_chunk_s`` (then the
        worker admits newcomers and, out of a burst, streams get their step); the policy picks
        each chunk's prompt and may leave the time to younger streams. Chunks are sized to
        ``prefill_chunk_s``, so cancels are noticed between them."""
        started = time.perf_counter()
        policy = lane.policy
        first = True
        while lane.prefilling:
            sequence = policy.pick(lane.prefilling)
            spent = time.perf_counter() - started
            seconds = self._prefill_chunk_s - spent
            if not burst:
                seconds = policy.budget(sequence, lane.decoding, seconds)
            elif lane.decoding and not lane.burst.waits_for(policy, sequence):
                return  # the burst does not wait for this prompt: its prefilled streams step first
            if sequence.cancelled or seconds <= 0 or (
                    not first and policy.waits(sequence, seconds, self._prefill_chunk_s)):
                return  # no fragment at the round's end: a whole chunk next round
            first = False
            before = sequence.control.progress_tokens
            window = lane.burst.left() if burst else 0.0
            together = policy.companions(sequence, lane.prefilling, max(seconds, window))
            if together and lane.prefill_many is not None:
                self._prefill_together(lane, [sequence, *together], seconds, burst)
            else:
                self._prefill_chunk(lane, sequence, seconds, burst)
            policy.chunk_done(sequence, lane.prefilling, time.perf_counter() - started - spent, together)
            if sequence in lane.prefilling and sequence.control.progress_tokens == before:
                return  # no progress (a runner waiting on something): let the loop go round

    def _prefill_chunk(self, lane: _Lane, sequence: ActiveSequence, seconds: float, burst: bool) -> None:
        size = lane.policy.chunk_size(sequence, seconds, alone=_alone(lane, sequence, burst))
        before = sequence.control.progress_tokens or 0
        started = lane.interrupt.start(seconds)
        try:
            done = lane.runner.prefill(sequence.seq_id, size)
        except BaseException as exc:
            lane.prefilling.remove(sequence)
            self._end(lane, sequence, StopReason.ERROR, exc)
            return
        finally:
            lane.interrupt.stop()
        progress = (sequence.control.progress_tokens or 0) - before
        if lane is self._backend_lane and self.batching:
            lane.policy.learn(progress, time.perf_counter() - started, sequence)
        if sequence.share_key is not None and self.batching and (progress or done):
            self._sharing.snapshot(sequence, done)  # checkpoints of caches that cannot trim
        if done:
            self._prefilled(lane, sequence)

    def _prefill_together(self, lane: _Lane, sequences: list[ActiveSequence], seconds: float,
                          burst: bool) -> None:
        """Short prompts' rests in one ``prefill_many`` call (shared model calls); when it fails,
        each is prefilled on its own (an error then ends only its sequence)."""
        assert lane.prefill_many is not None
        sizes = [lane.policy.chunk_size(s, seconds, alone=_alone(lane, s, burst)) for s in sequences]
        before = sum(s.control.progress_tokens or 0 for s in sequences)
        started = time.perf_counter()
        try:
            done = lane.prefill_many([s.seq_id for s in sequences], sizes)
        except BaseException:
            logger.debug("a shared prefill call failed: prefilling one by one", exc_info=True)
            for sequence in sequences:
                if not sequence.cancelled:
                    self._prefill_chunk(lane, sequence, seconds, burst)
            return
        lane.policy.learn(sum(s.control.progress_tokens or 0 for s in sequences) - before,
                          time.perf_counter() - started)
        for sequence, ready in zip(sequences, done, strict=True):
            if sequence.share_key is not None and self.batching:
                self._sharing.snapshot(sequence, ready)  # checkpoints of caches that cannot trim
            if ready:
                self._prefilled(lane, sequence)

    def _prefilled(self, lane: _Lane, sequence: ActiveSequence) -> None:
        """Move a sequence whose prompt is in its cache to the decoding ones; when its first
        token is ready (``first_token_ready``) beside streams already decoding, hand it over
        at once rather than after the next batched step of all of them."""
        lane.prefilling.remove(sequence)
        sequence.prefilled = True
        lane.decoding.append(sequence)
        if any(s.generated for s in lane.decoding) and lane.runner.first_token_ready(sequence.seq_id):
            try:
                results = lane.runner.step([sequence.seq_id])
            except BaseException as exc:
                self._leave(lane, sequence, StopReason.ERROR, exc)
                return
            for result in results:
                self._accept(lane, sequence, result)

    def _step(self, lane: _Lane) -> None:
        """Step every decoding sequence whose buffer has room (cancelled ones leave first)."""
        decoding = lane.decoding
        if not decoding:
            return
        if len(decoding) == 1:  # one stream: no lists or lookup table per token
            only = decoding[0]
            channel = only.channel
            if channel.cancelled:
                self._leave(lane, only, StopReason.CANCELLED, None)
                return
            if channel.paused:
                return
            next_token = lane.next_token
            if next_token is not None:  # the iterator adapter: usually a bare id, no StepResult
                token = next_token(only.seq_id)  # never raises
                if type(token) is not int:
                    self._accept(lane, only, token)
                    return
                try:
                    reason = only.accept_token(token)
                except BaseException as exc:
                    self._leave(lane, only, StopReason.ERROR, exc)
                    return
                if reason is not None:
                    self._leave(lane, only, reason, None)
                return
            ready = decoding
        else:
            only = None
            ready = []
            for sequence in list(decoding):
                channel = sequence.channel
                if channel.cancelled:
                    self._leave(lane, sequence, StopReason.CANCELLED, None)
                elif not channel.paused:
                    ready.append(sequence)
            if not ready:
                return
        try:
            results = lane.runner.step([s.seq_id for s in ready] if only is None else [only.seq_id])
        except BaseException as exc:
            for sequence in list(ready):
                lane.decoding.remove(sequence)
                self._end(lane, sequence, StopReason.ERROR, exc)
            return
        by_id = {s.seq_id: s for s in ready} if only is None else None
        for result in results:
            if by_id is None:
                assert only is not None
                if result.seq_id != only.seq_id:
                    raise KeyError(result.seq_id)  # a runner answered for a sequence not stepped
                self._accept(lane, only, result)
            else:
                self._accept(lane, by_id[result.seq_id], result)

    def _accept(self, lane: _Lane, sequence: ActiveSequence, result: StepResult | int) -> None:
        """Hand one step result (or a bare token id) to its sequence; end it when it must stop."""
        try:
            if isinstance(result, int):
                reason = sequence.accept_token(result)
            else:
                reason = sequence.accept(result)
        except SequenceEnded:
            reason = StopReason.CANCELLED if sequence.cancelled else StopReason.STOP
        except BaseException as exc:
            self._leave(lane, sequence, StopReason.ERROR, exc)
            return
        if reason is not None:
            self._leave(lane, sequence, reason, None)
        elif sequence.generated >= sequence.checkpoint_due:
            self._sharing.checkpoint(sequence)

    def _leave(self, lane: _Lane, sequence: ActiveSequence, reason: StopReason,
               error: BaseException | None) -> None:
        lane.decoding.remove(sequence)
        self._end(lane, sequence, reason, error)

    def _retire_cancelled(self, lane: _Lane) -> None:
        for group in (lane.prefilling, lane.decoding):
            if not group:
                continue
            for sequence in [s for s in group if s.channel.cancelled]:
                group.remove(sequence)
                self._end(lane, sequence, StopReason.CANCELLED, None)
        if not lane.waiting:
            return
        for sequence in [s for s in lane.waiting if s.cancelled]:
            lane.waiting.remove(sequence)
            self._end(lane, sequence, StopReason.CANCELLED, None, added=False)

    def _end(self, lane: _Lane, sequence: ActiveSequence, reason: StopReason,
             error: BaseException | None, *, added: bool = True) -> None:
        """Remove the sequence from its runner (cache consistent first), then its one Info."""
        if added:
            if sequence.share_key is not None and reason is not StopReason.ERROR:
                self._sharing.reserve(sequence)  # room for the state the runner saves now
            try:
                lane.runner.remove(sequence.seq_id)
            except BaseException as exc:
                logger.exception("removing a sequence from the batch failed")
                if error is None:
                    reason, error = StopReason.ERROR, exc
            else:
                if sequence.share_key is not None and reason is not StopReason.ERROR:
                    self._sharing.give_back(sequence)
        try:
            sequence.finish(reason, error)
        except BaseException:
            logger.exception("ending a generation failed")

    def close(self) -> None:
        """Close the runners and drop the prefix cache's entries (the context is closing)."""
        for lane in self._lanes:
            try:
                lane.runner.close()
            except Exception:
                logger.exception("closing a batch runner failed")
        self.prefix_cache.clear()


def _alone(lane: _Lane, sequence: ActiveSequence, burst: bool) -> bool:
    """Whether a short rest of ``sequence`` may be one chunk: no stream steps meanwhile (a burst,
    none decodes), or a stream admitted after it decodes already (let ahead by shortest-first,
    as a burst's leftovers are): only a newcomer behind decoding streams is chunked by time."""
    return burst or not lane.decoding or any(s.seq_id > sequence.seq_id for s in lane.decoding)
