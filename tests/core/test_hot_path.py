"""The per-token path's shortcuts keep the contract: fast-built events, the channel's wake and
pause protocol, the iterator adapter's bare ids, and a slow producer's tokens arriving at once."""

from __future__ import annotations

import asyncio
import copy
import dataclasses
import pickle
import threading
import time
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

import lmstream
from lmstream import Chunk, Info, StopReason, Token
from lmstream.model import GenerationControl, SequenceEnded, SequenceRequest, StepResult
from lmstream.protocol import EventChannel, GenerationParameters, new_chunk, new_token
from lmstream.scheduling._iterator_runner import IteratorRunner

texts = st.text(max_size=8)
ids = st.tuples(*[st.integers(0, 1 << 20)] * 3)
logprobs = st.none() | st.just(())


@given(texts, ids, st.integers(0, 1 << 30), st.sampled_from(["content", "reasoning"]), logprobs)
def test_new_chunk_is_the_same_frozen_chunk_as_the_constructor(text, tokens, position, channel, lps):
    fast, public = new_chunk(text, tokens, position, channel, lps), Chunk(text, tokens, position, channel, lps)
    assert type(fast) is Chunk and fast == public and hash(fast) == hash(public)
    assert repr(fast) == repr(public)
    assert pickle.loads(pickle.dumps(fast)) == public and copy.deepcopy(fast) == public
    assert dataclasses.replace(fast, text=text + "x") == Chunk(text + "x", tokens, position, channel, lps)
    with pytest.raises(dataclasses.FrozenInstanceError):
        fast.text = "changed"  # type: ignore[misc]


@given(st.integers(0, 1 << 20), st.integers(0, 1 << 30))
def test_new_token_is_the_same_frozen_token_as_the_constructor(token_id, position):
    fast = new_token(token_id, position)
    assert type(fast) is Token and fast == Token(token_id, position)
    assert fast.logprob is None and fast.top_logprobs is None
    with pytest.raises(dataclasses.FrozenInstanceError):
        fast.id = 0  # type: ignore[misc]


class _CountingCondition:
    """Stands in for the channel's condition: counts notifies."""

    def __init__(self) -> None:
        self.notified = 0

    def notify(self) -> None:
        self.notified += 1


def test_push_notifies_a_waiting_consumer_once_per_wait():
    channel = EventChannel()
    counting = _CountingCondition()
    channel._cond = counting  # type: ignore[assignment]
    channel.push(["a"])
    assert counting.notified == 0  # nobody waits: append only
    channel._waiting = True  # what take() sets before it waits
    for event in "bcd":
        channel.push([event])
    assert counting.notified == 1 and not channel._waiting
    assert channel._events == ["a", "b", "c", "d"]


def test_a_blocked_consumer_gets_every_event_pushed_while_it_wakes():
    channel = EventChannel()
    got: list[Any] = []

    def consume() -> None:
        while batch := channel.take():
            got.extend(batch)

    consumer = threading.Thread(target=consume)
    consumer.start()
    deadline = time.monotonic() + 5
    while not channel._waiting and time.monotonic() < deadline:
        time.sleep(0.001)
    for i in range(1000):
        channel.push([i])
    channel.finish(Info(StopReason.STOP))
    consumer.join(5)
    assert got[:-1] == list(range(1000)) and type(got[-1]) is Info


def test_push_pauses_at_the_limit_and_the_read_that_empties_it_wakes_the_producer():
    wakes: list[int] = []
    channel = EventChannel(limit=3, wake=lambda: wakes.append(1))
    channel.push(["a", "b"])
    assert not channel.paused and channel.full is False
    channel.push(["c"])
    assert channel.paused and channel.full
    assert channel.take() == ["a", "b", "c"]
    assert not channel.paused and wakes == [1]
    channel.push(["d"])
    assert not channel.paused and channel.take() == ["d"] and wakes == [1]  # not paused: no wake


def test_an_unbounded_channel_never_pauses():
    channel = EventChannel(limit=0)
    channel.push(list(range(10_000)))
    assert not channel.paused and not channel.full


def test_cancel_sets_the_flag_and_the_event_and_wakes_the_producer_once():
    wakes: list[int] = []
    channel = EventChannel(wake=lambda: wakes.append(1))
    assert not channel.cancelled
    channel.cancel()
    channel.cancel()
    assert channel.cancelled and channel.cancel_event.is_set() and wakes == [1]
    quiet = EventChannel(wake=lambda: wakes.append(2))
    quiet.cancel(wake_producer=False)
    assert quiet.cancelled and quiet.cancel_event.is_set() and wakes == [1]


def _runner(items: list[Any], *, logprobs: bool = False) -> IteratorRunner:
    runner = IteratorRunner(None)
    runner.set_factory(1, lambda control: iter(items))
    params = GenerationParameters(logprobs=logprobs)
    runner.add(SequenceRequest(1, (), params, None, GenerationControl(threading.Event())))
    runner.prefill(1, 16)
    return runner


def test_the_iterator_adapter_hands_bare_ids_and_step_results_otherwise():
    runner = _runner([5, StepResult(0, 6, -0.5), True])
    assert runner.next_token(1) == 5 and type(runner.next_token(1)) is StepResult  # a StepResult item
    failed = runner.next_token(1)  # a bool is not a token id
    assert isinstance(failed, StepResult) and isinstance(failed.error, TypeError)
    ended = runner.next_token(1)
    assert isinstance(ended, StepResult) and isinstance(ended.error, SequenceEnded)
    [after_end] = runner.step([1])
    assert after_end.seq_id == 1 and isinstance(after_end.error, SequenceEnded)


def test_a_backend_iterator_may_yield_int_like_scalars_but_nothing_else():
    np = pytest.importorskip("numpy")
    runner = _runner([np.int64(7), np.array(8, dtype=np.int32)])
    assert [runner.next_token(1), runner.next_token(1)] == [
        StepResult(1, 7), StepResult(1, 8)]
    # (a plain int takes the fast path unchecked: the backend's own ids are trusted)
    for bad, kind in [(np.array(4.7), TypeError), ("5", TypeError), (np.int64(-1), ValueError),
                      (np.int64(2**40), ValueError), (2.0, TypeError)]:
        failed = _runner([bad]).next_token(1)
        assert isinstance(failed, StepResult) and isinstance(failed.error, kind), bad
        assert "not a token id" in str(failed.error)


def test_the_iterator_adapter_step_keeps_the_batch_contract():
    runner = _runner([7, 8])
    assert runner.step([1]) == [StepResult(1, 7)]
    assert runner.step([1]) == [StepResult(1, 8)]
    runner.remove(1)
    assert 1 not in runner._bare


def test_bare_ids_are_refused_when_logprobs_are_asked_for():
    runner = _runner([7], logprobs=True)
    result = runner.next_token(1)
    assert isinstance(result, StepResult) and isinstance(result.error, ValueError)


def test_a_cursor_survives_an_interrupt_while_it_waits_and_reads_on_to_the_info(scripted, monkeypatch):
    context = scripted("abcdefghij", token_delay=0.02)
    stream, _task = lmstream.generate_task("hi", context=context, parameters={"max_tokens": None})
    cursor = iter(stream)  # what the CLI keeps across Ctrl-C
    assert isinstance(next(cursor), Chunk)
    real_take = EventChannel.take

    def interrupted_take(channel: EventChannel) -> list[Any]:
        monkeypatch.setattr(EventChannel, "take", real_take)
        raise KeyboardInterrupt  # as a Ctrl-C during the wait does

    monkeypatch.setattr(EventChannel, "take", interrupted_take)
    with pytest.raises(KeyboardInterrupt):
        for _ in cursor:
            pass
    stream.cancel()
    rest = list(cursor)
    assert type(rest[-1]) is Info and rest[-1].stop_reason == StopReason.CANCELLED


def test_next_on_the_stream_reads_to_exactly_one_info(scripted):
    stream = lmstream.generate("hi", context=scripted("abc"))
    events = []
    while True:
        try:
            events.append(next(stream))
        except StopIteration:
            break
    assert "".join(e.text for e in events if isinstance(e, Chunk)) == "abc"
    assert [type(e) for e in events].count(Info) == 1 and type(events[-1]) is Info
    assert list(stream) == []  # a second loop over an ended stream is empty


DELAY = 0.05


@pytest.mark.parametrize("batching", [True, False])
def test_a_waiting_sync_consumer_sees_each_token_as_it_is_produced(scripted, batching):
    context = scripted("abcdef", token_delay=DELAY, batching=batching)
    arrivals = [time.perf_counter() for e in lmstream.generate("hi", context=context) if isinstance(e, Chunk)]
    assert len(arrivals) == 6
    # not held back to be batched: the first token arrives several token steps before the last
    assert arrivals[-1] - arrivals[0] > 3 * DELAY


@pytest.mark.parametrize("batching", [True, False])
async def test_a_waiting_async_consumer_sees_each_token_as_it_is_produced(scripted, batching):
    context = scripted("abcdef", token_delay=DELAY, batching=batching)
    arrivals = [time.perf_counter() async for e in lmstream.generate("hi", context=context)
                if isinstance(e, Chunk)]
    assert len(arrivals) == 6
    assert arrivals[-1] - arrivals[0] > 3 * DELAY


async def test_an_async_break_cancels_at_once(scripted):
    context = scripted("abcdefghij", token_delay=0.02)
    stream, task = lmstream.generate_task("hi", context=context, parameters={"max_tokens": None})
    async for _ in stream:
        break
    assert stream._channel.cancelled  # no loop turn needed
    assert (await asyncio.wait_for(task, 1)).stop_reason == StopReason.CANCELLED


async def test_an_async_cursor_survives_a_cancelled_wait_and_reads_on_to_the_info(scripted):
    context = scripted("abcdefghij", token_delay=0.05)
    stream, _task = lmstream.generate_task("hi", context=context, parameters={"max_tokens": None})
    cursor = aiter(stream)
    assert isinstance(await anext(cursor), Chunk)
    waiting = asyncio.ensure_future(anext(cursor))
    await asyncio.sleep(0.01)  # it waits for the next token
    waiting.cancel()
    with pytest.raises(asyncio.CancelledError):
        await waiting
    rest = [event async for event in cursor]
    assert type(rest[-1]) is Info and rest[-1].stop_reason == StopReason.CANCELLED
