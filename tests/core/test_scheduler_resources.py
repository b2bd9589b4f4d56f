"""Resources under the scheduler: bounded buffers, pooled threads, dropped streams, prefill cancel."""

from __future__ import annotations

import gc
import threading
import time

import lmstream
from lmstream import Chunk, Info, StopReason
from lmstream_scripted.model import CHATML_TEMPLATE


def test_an_unread_stream_pauses_at_its_bound_and_the_others_go_on(scripted):
    context = scripted("z", repeat=True, max_buffered_events=64)
    unread, unread_task = lmstream.generate_task("a", context=context, parameters={"max_tokens": None})
    time.sleep(0.2)
    events = [e for e in lmstream.generate("b", context=context, parameters={"max_tokens": 500})]
    assert events[-1].stop_reason == StopReason.LENGTH
    assert len(unread._channel._events) <= 64 and not unread_task.done()
    assert unread._channel.paused
    # reading resumes it
    taken = 0
    for _event in unread:
        taken += 1
        if taken == 1000:
            break
    assert unread_task.wait(5).stop_reason == StopReason.CANCELLED


def test_an_unread_stream_does_not_block_close(scripted):
    context = lmstream.load(backend="scripted", reply="z", repeat=True, max_buffered_events=16)
    stream, task = lmstream.generate_task("a", context=context, parameters={"max_tokens": None})
    time.sleep(0.1)
    started = time.perf_counter()
    context.close()
    assert time.perf_counter() - started < 5
    assert task.wait(1).stop_reason == StopReason.CANCELLED
    del stream


def test_load_close_cycles_reuse_pooled_threads():
    before = threading.active_count()
    for _ in range(200):
        context = lmstream.load(backend="scripted", reply="ok")
        assert "".join(e.text for e in context.generate_stream("hi") if isinstance(e, Chunk)) == "ok"
        context.close()
    assert threading.active_count() - before <= 2


def _live_chunks() -> int:
    return sum(1 for o in gc.get_objects() if type(o) is Chunk)


def test_a_dropped_unread_stream_releases_its_events(scripted):
    context = scripted("abcdefgh" * 100, max_buffered_events=100_000)
    gc.collect()
    before = _live_chunks()
    stream, task = lmstream.generate_task("q", context=context, parameters={"max_tokens": 800})
    task.wait(10)
    assert _live_chunks() - before >= 700
    del stream, task
    gc.collect()
    assert _live_chunks() - before < 10


def test_cancel_during_prefill_lands_fast_and_reports_what_was_prefilled(scripted):
    # 0.5 ms per prompt token: 3,000 tokens take 1.5 s to prefill
    context = scripted("answer", prefill_delay=0.0005, prefill_chunk_s=0.05)
    _stream, task = lmstream.generate_task("x" * 3000, context=context)
    time.sleep(0.4)
    cancelled_at = time.perf_counter()
    task.cancel()
    info = task.wait(5)
    assert time.perf_counter() - cancelled_at < 0.3
    assert info.stop_reason == StopReason.CANCELLED
    assert 0 < info.prompt_tokens < 3000
    assert info.generated_tokens == 0


def test_a_long_prefill_does_not_freeze_running_streams(scripted):
    delay = 0.01
    context = scripted(lambda p: "r" * 60, token_delay=delay, prefill_delay=0.0005,
                       prefill_chunk_s=0.05)
    running, running_task = lmstream.generate_task("short", context=context)
    gaps = []
    last = None
    started_long = False
    for _event in running:
        now = time.perf_counter()
        if last is not None:
            gaps.append(now - last)
        last = now
        if not started_long:
            long_stream = lmstream.generate("y" * 4000, context=context)  # 2 s of prefill
            started_long = True
    assert running_task.wait(5).stop_reason == StopReason.STOP
    # one prefill chunk (~0.05 s) between steps at most, never the whole 2 s prefill
    assert max(gaps) < 0.5, max(gaps)
    long_stream.close()


def test_chat_session_reuses_its_cache_while_other_streams_run(scripted):
    context = scripted(lambda p: "reply", token_delay=0.002, model_chat_template=CHATML_TEMPLATE)
    session = lmstream.ChatSession(context)
    session.respond("first")
    background = [lmstream.generate_task(f"noise {i}", context=context,
                                         parameters={"max_tokens": 200}) for i in range(3)]
    session.respond("second")
    info = session.last_info
    assert info.cached_prompt_tokens > 0
    for stream, task in background:
        stream.cancel()
        task.wait(5)


def test_an_ended_turn_rollback_trims_after_its_generation_left(scripted):
    context = scripted(lambda p: "long reply " * (2000 if "two" in p else 20), token_delay=0.002,
                       model_chat_template=CHATML_TEMPLATE)
    session = lmstream.ChatSession(context)
    session.respond("one")
    committed = context.worker.call(lambda: list(session.cache.tokens))
    stream = session.stream_response("two")
    for _text in stream:
        break
    stream.close()  # rolls the turn back while its generation is still being retired
    seen: list[list[int]] = []
    done = threading.Event()

    def look() -> None:
        seen.append(list(session.cache.tokens))
        done.set()

    context.when_cache_free(session.cache, look)  # runs after the rollback's trim
    assert done.wait(5)
    assert seen[0] == committed
    session.respond("three")
    assert session.last_info.cached_prompt_tokens >= len(committed) - 1


def test_token_task_iterators_interleave_with_backend_sequences(scripted):
    context = scripted("abc", token_delay=0.01)
    stream, task = lmstream.generate_token_task(prompt_token_count=2, context=context,
                                                iterator=iter([5, 6, 7]))
    backend = list(lmstream.generate("q", context=context))
    tokens = [e.id for e in stream if isinstance(e, lmstream.Token)]
    assert tokens == [5, 6, 7] and isinstance(backend[-1], Info)
    assert task.wait(5).stop_reason == StopReason.STOP
