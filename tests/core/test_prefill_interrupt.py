"""A prefill chunk that stops part-way for a newcomer (``BatchRunner.interrupt``, ``_interrupt``).

The scheduler gives every lane's runner a ``ChunkInterrupt``: it says stop while a job waits
for the worker (a newcomer's admission) or once a chunk has run ``CHUNK_OVERRUN`` times its
budget. The scripted runner computes a chunk in ``prefill_parts`` parts and stops between them
(as the MLX runner stops between decoder layers), so a short request arriving while a long
prompt prefills is admitted and answered before the rest of the running chunk. Assertions
count what the worker did, in order (observers and prefill progress run on the worker).
"""

from __future__ import annotations

import threading
import time
from types import SimpleNamespace
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import lmstream
from lmstream.hooks import Observer
from lmstream.protocol import Info
from lmstream.scheduling._interrupt import CHUNK_OVERRUN, ChunkInterrupt
from lmstream.scheduling._prefill_policy import PrefillPolicy

LONG = 2000


def _reply(prompt: str) -> str:
    return f"<{prompt.split()[0]}>" + "." * 12


class _Log(Observer):
    def __init__(self, log: list[tuple[str, Any]], name: str) -> None:
        self.log, self.name = log, name

    def on_event(self, generation: Any, event: Any) -> None:
        self.log.append((self.name, "end" if isinstance(event, Info) else "token"))


def _drain(stream: Any) -> tuple[str, Info]:
    text, info = "", None
    for event in stream:
        if isinstance(event, Info):
            info = event
        else:
            text += getattr(event, "text", "")
    assert info is not None and info.error is None, info
    return text, info


def _short_behind_long(context: lmstream.ModelContext) -> list[tuple[str, Any]]:
    """The long prompt starts; right after its first chunk the short request is submitted."""
    log: list[tuple[str, Any]] = []
    first_chunk = threading.Event()

    def progress(done: int, total: int) -> None:
        log.append(("prefill", done))
        if done:
            first_chunk.set()

    long_stream, _ = lmstream.generate_task("long " + "x" * (LONG - 5), context=context,
                                            on_prefill_progress=progress, observers=[_Log(log, "long")])
    assert first_chunk.wait(30)
    log.append(("short", "submitted"))
    short_text, _ = _drain(lmstream.generate("short please", context=context, observers=[_Log(log, "short")]))
    long_text, _ = _drain(long_stream)
    assert short_text == _reply("short please") and long_text == _reply("long")
    return log


def _long_chunks_before_the_short_token(log: list[tuple[str, Any]]) -> int:
    start = log.index(("short", "submitted"))
    first = log.index(("short", "token"))
    return sum(1 for entry in log[start:first] if entry[0] == "prefill")


@pytest.mark.parametrize("parts", [1, 50])
def test_a_newcomer_does_not_wait_for_the_rest_of_a_chunk_that_can_stop(scripted, parts):
    # 2 s of long prefill in chunks of 0.1 s; the burst window (8 chunks) cannot cover it
    context = scripted(_reply, prefill_delay=0.001, token_delay=0.002, prefill_chunk_s=0.1,
                       prefill_parts=parts)
    log = _short_behind_long(context)
    chunks = _long_chunks_before_the_short_token(log)
    if parts == 1:
        # a chunk that cannot stop runs to its end first; then the short one is prefilled and
        # steps at once: the round's rest does not go to a prompt the burst will not wait for
        assert chunks == 1
    else:
        assert chunks == 0  # stopped part-way: the short one was answered before it ended


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
    results: dict[int, str] = {}

    def run(i: int) -> None:
        results[i], _ = _drain(lmstream.generate(prompts[i], context=context, cache=caches[i]))

    threads = [threading.Thread(target=run, args=(i,)) for i in range(len(prompts))]
    for thread in threads:
        thread.start()
        time.sleep(delay)
    for thread in threads:
        thread.join(30)
    encode = context.tokenizer.encode
    for i, prompt in enumerate(prompts):
        assert results[i] == _reply(prompt)
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
    assert policy.rate == pytest.approx(0.5 * 250 + 0.5 * 250)
