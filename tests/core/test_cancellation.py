"""Cancellation: break, task.cancel, immediate cancel, cancel during prefill, GC, async exit."""

from __future__ import annotations

import asyncio
import gc
import time

import lmstream
from lmstream import Chunk, StopReason

DELAY = 0.05


def test_break_settles_cancelled_within_one_token_step(scripted):
    context = scripted("abcdefghijklmnopqrstuvwxyz", token_delay=DELAY)
    stream, task = lmstream.generate_task("hi", context=context, parameters={"max_tokens": None})
    for event in stream:
        if isinstance(event, Chunk) and event.text == "c":
            break_time = time.perf_counter()
            break
    info = task.wait(timeout=5)
    settle = time.perf_counter() - break_time
    assert info.stop_reason == StopReason.CANCELLED
    assert settle < DELAY, f"settled in {settle * 1000:.1f} ms, more than one token step ({DELAY * 1000} ms)"
    assert info.generated_tokens < 26


def test_task_cancel_mid_stream(scripted):
    context = scripted("abcdefghij", token_delay=DELAY)
    stream, task = lmstream.generate_task("hi", context=context)
    first = next(stream)
    task.cancel()
    rest = list(stream)
    assert isinstance(first, Chunk)
    assert rest[-1].stop_reason == StopReason.CANCELLED
    assert task.wait(1).stop_reason == StopReason.CANCELLED


def test_immediate_cancel_before_first_token(scripted):
    context = scripted("abc", token_delay=DELAY, prefill_delay=0.01)
    stream, task = lmstream.generate_task("hi", context=context)
    task.cancel()
    events = list(stream)
    assert len(events) == 1 and events[0].stop_reason == StopReason.CANCELLED
    assert events[0].generated_tokens == 0


def test_cancel_during_prefill(scripted):
    context = scripted("abc", prefill_delay=0.02)
    progress: list[tuple[int, int]] = []
    _stream, task = lmstream.generate_task("x" * 40, context=context, parameters={"prefill_step_size": 4},
                                          on_prefill_progress=lambda done, total: progress.append((done, total)))
    time.sleep(0.2)  # a few prefill chunks of 4 tokens x 20 ms
    task.cancel()
    info = task.wait(timeout=2)
    assert info.stop_reason == StopReason.CANCELLED and info.generated_tokens == 0
    assert progress and progress[-1][0] < 40 and all(total == 40 for _, total in progress)
    # the context still works afterwards
    assert context.generate("again").text == "abc"


def test_dropping_the_stream_cancels_it(scripted):
    context = scripted("abcdefghij", token_delay=DELAY)
    stream, task = lmstream.generate_task("hi", context=context)
    next(iter(stream))
    del stream
    gc.collect()
    assert task.wait(timeout=1).stop_reason == StopReason.CANCELLED


def test_with_block_exit_cancels(scripted):
    context = scripted("abcdefghij", token_delay=DELAY)
    stream, task = lmstream.generate_task("hi", context=context)
    with stream:
        for _ in stream:
            break
    assert task.wait(timeout=1).stop_reason == StopReason.CANCELLED


def test_exception_in_consumer_cancels(scripted):
    context = scripted("abcdefghij", token_delay=DELAY)
    stream, task = lmstream.generate_task("hi", context=context)

    def consume() -> None:
        for _ in stream:
            raise RuntimeError("consumer failed")

    try:
        consume()
    except RuntimeError:
        pass
    assert task.wait(timeout=1).stop_reason == StopReason.CANCELLED


async def test_async_break_cancels(scripted):
    context = scripted("abcdefghij", token_delay=DELAY)
    stream, task = lmstream.generate_task("hi", context=context)
    async for _ in stream:
        break
    info = await asyncio.wait_for(task, 1)
    assert info.stop_reason == StopReason.CANCELLED


async def test_async_with_exit_cancels(scripted):
    context = scripted("abcdefghij", token_delay=DELAY)
    stream, task = lmstream.generate_task("hi", context=context)
    async with stream:
        async for _ in stream:
            break
    assert (await asyncio.wait_for(task, 1)).stop_reason == StopReason.CANCELLED


async def test_cancelling_the_consuming_asyncio_task_cancels_the_stream(scripted):
    context = scripted("abcdefghij", token_delay=DELAY)
    stream, task = lmstream.generate_task("hi", context=context)

    async def consume() -> None:
        async for _ in stream:
            pass

    consumer = asyncio.ensure_future(consume())
    await asyncio.sleep(DELAY * 2)
    consumer.cancel()
    info = await asyncio.wait_for(task, 1)
    assert info.stop_reason == StopReason.CANCELLED


def test_next_generation_after_cancel_is_correct(scripted):
    context = scripted("abcdef", token_delay=0.01)
    stream, task = lmstream.generate_task("hi", context=context)
    next(stream)
    task.cancel()
    task.wait(1)
    assert context.generate("hi").text == "abcdef"


def test_wait_timeout(scripted):
    context = scripted("abcdefghij", token_delay=DELAY)
    stream, task = lmstream.generate_task("hi", context=context)
    try:
        task.wait(timeout=0.01)
    except TimeoutError as exc:
        assert "not finished" in str(exc)
    else:
        raise AssertionError("wait should time out")
    stream.cancel()
    assert task.wait(1).stop_reason == StopReason.CANCELLED
