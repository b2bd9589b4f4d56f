"""The interrupt that stops a prefill chunk part-way (``BatchRunner.interrupt``, ``_interrupt``).

The scheduler gives every lane's runner a ``ChunkInterrupt``: it says stop while a job waits
for the worker (a newcomer's admission) or once a chunk has run ``CHUNK_OVERRUN`` times its
budget. The scripted runner computes a chunk in ``prefill_parts`` parts and stops between them
(as the MLX runner stops between decoder layers). What a newcomer gains is in
test_short_behind_long.py; here: the interrupt's rule, the rate learned from a stopped chunk,
and that stopping loses and repeats nothing whatever the arrivals.
"""

from __future__ import annotations

import threading
import time
from types import SimpleNamespace

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import lmstream
from lmstream.scheduling._interrupt import CHUNK_OVERRUN, ChunkInterrupt
from lmstream.scheduling._prefill_policy import PrefillPolicy


def _reply(prompt: str) -> str:
    return f"<{prompt.split()[0]}>" + "." * 12


@pytest.fixture(scope="module")
def scripted_by_parts():
    """Scripted contexts with fast prefill in short chunks, one per ``prefill_parts``."""
    made: dict[int, lmstream.ModelContext] = {}

    def make(parts: int) -> lmstream.ModelContext:
        if parts not in made:
            made[parts] = lmstream.load(backend="scripted", reply=_reply, model_chat_template=None,
                                        prefill_delay=0.0001, prefill_chunk_s=0.005, prefill_parts=parts)
        return made[parts]

    yield make
    for context in made.values():
        context.close()


@settings(max_examples=15, deadline=None)
@given(parts=st.integers(1, 8), delay=st.floats(0.0, 0.06),
       lengths=st.lists(st.integers(3, 300), min_size=1, max_size=4))
def test_stopped_chunks_lose_and_repeat_nothing(scripted_by_parts, parts, delay, lengths):
    context = scripted_by_parts(parts)
    prompts = [f"p{i} " + "y" * n for i, n in enumerate(lengths)]
    caches = [context.new_cache() for _ in prompts]
    texts: dict[int, str] = {}

    def run(i: int) -> None:
        texts[i] = context.generate(prompts[i], cache=caches[i]).text

    threads = [threading.Thread(target=run, args=(i,)) for i in range(len(prompts))]
    for thread in threads:
        thread.start()
        time.sleep(delay)
    for thread in threads:
        thread.join(30)
    encode = context.tokenizer.encode
    for i, prompt in enumerate(prompts):
        assert texts[i] == _reply(prompt)
        assert caches[i].tokens == [*encode(prompt), *encode(_reply(prompt))]  # each id fed once


def test_the_interrupt_says_stop_for_a_waiting_job_or_an_overrun():
    interrupt = ChunkInterrupt()
    assert not interrupt()  # no chunk, no jobs
    jobs = [False]
    interrupt.jobs_waiting = lambda: jobs[0]
    interrupt.start(0.02)
    assert not interrupt()
    jobs[0] = True
    assert interrupt()
    jobs[0] = False
    time.sleep(0.02 * CHUNK_OVERRUN + 0.01)
    assert interrupt()  # overran its budget
    interrupt.stop()
    assert not interrupt()


def test_a_chunk_stopped_part_way_is_timed_whole():
    policy = PrefillPolicy()
    sequence = SimpleNamespace(seq_id=1, plan=SimpleNamespace(prompt=(1,) * 500, cache=None),
                               control=SimpleNamespace(progress_tokens=None), request=SimpleNamespace(cache=None))
    policy.learn(0, 0.1, sequence)
    policy.learn(0, 0.1, sequence)
    assert policy.rate is None  # no progress yet: nothing learned
    policy.learn(100, 0.2, sequence)
    assert policy.rate == pytest.approx(100 / 0.4)
    policy.learn(100, 0.4, sequence)  # the parts were forgotten once counted
    assert policy.rate == pytest.approx(250)


def test_the_context_lets_its_worker_queue_interrupt_prefill(scripted):
    context = scripted("hi", prefill_delay=0.001, prefill_parts=4)
    lane = context.scheduler._backend_lane
    assert lane.runner.interrupt is lane.interrupt
    assert lane.interrupt.jobs_waiting == context.worker.has_jobs


def test_a_runner_that_cannot_take_the_interrupt_still_runs():
    from lmstream.scheduling._lane import Lane
    from lmstream_scripted.batch import ScriptedBatchRunner

    class Fixed(ScriptedBatchRunner):
        @property  # type: ignore[override]
        def interrupt(self) -> None:
            return None

    runner = Fixed(SimpleNamespace(options=SimpleNamespace()))
    lane = Lane(runner, 4, 0.25)
    assert runner.interrupt is None and lane.interrupt is not None
