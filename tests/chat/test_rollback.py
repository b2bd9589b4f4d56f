"""A cancelled, failed or abandoned turn is rolled back: history and cache as before the turn."""

from __future__ import annotations

import asyncio
import gc
from typing import Any

import pytest

import lmstream
from lmstream import Info, StopReason
from lmstream.chat import ChatSession
from lmstream_scripted.model import ScriptedFailure

DELAY = 0.003


def answer(prompt: str) -> str:
    """A reply that depends only on the conversation: 'Answer <n> ...' for the n-th user turn."""
    if "boom" in prompt.rsplit("<|im_start|>user", 1)[-1]:
        raise RuntimeError("backend exploded")
    return f"Answer {prompt.count('<|im_start|>user')} is a long enough reply."


def prompt_ids(context: lmstream.ModelContext, messages: list[Any]) -> list[int]:
    return list(context.prepare(lmstream.UserInput(messages=messages)).tokens)


def cache_ids(session: ChatSession) -> list[int]:
    """The ids in the session's cache once every queued worker job (rollback trims) ran."""
    return session.context.worker.call(lambda: list(session.cache.tokens))


def after_turn_one(chat_model: Any) -> tuple[lmstream.ModelContext, ChatSession, list[int]]:
    context = chat_model(answer, token_delay=DELAY)
    session = ChatSession(context)
    session.respond("first")
    before = cache_ids(session)
    assert before == prompt_ids(context, [{"role": "user", "content": "first"}]) + list(
        b"Answer 1 is a long enough reply.")
    return context, session, before


def assert_turn_three_is_correct(context: lmstream.ModelContext, session: ChatSession, before: list[int]) -> None:
    """Turn 3 sees only turn 1 in its prompt and reuses exactly the cache turn 1 left."""
    assert [m.role for m in session.history] == ["user", "assistant"]
    assert cache_ids(session) == before
    reply = session.respond("third")
    assert reply == "Answer 2 is a long enough reply."  # turn 2 left no user message behind
    info = session.last_info
    assert info is not None and info.cached_prompt_tokens == len(before)
    expected = prompt_ids(context, [{"role": "user", "content": "first"},
                                    {"role": "assistant", "content": "Answer 1 is a long enough reply."},
                                    {"role": "user", "content": "third"}])
    assert info.prompt_tokens + info.cached_prompt_tokens == len(expected)
    assert [m.content for m in session.history] == [
        "first", "Answer 1 is a long enough reply.", "third", "Answer 2 is a long enough reply."]


def test_break_out_of_stream_response_rolls_back(chat_model):
    context, session, before = after_turn_one(chat_model)
    got = []
    for delta in session.stream_response("second"):
        got.append(delta)
        if len(got) == 3:
            break
    assert "".join(got) == "Ans"
    assert session.last_info is None
    assert_turn_three_is_correct(context, session, before)


def test_break_while_holding_the_stream_rolls_back(chat_model):
    context, session, before = after_turn_one(chat_model)
    stream = session.stream_response("second")
    for _ in stream:
        break
    assert stream.finished and list(stream) == []
    assert_turn_three_is_correct(context, session, before)


def test_stream_cancel_ends_with_cancelled_info(chat_model):
    context, session, before = after_turn_one(chat_model)
    stream = session.stream_details("second")
    events = []
    for event in stream:
        events.append(event)
        if len(events) == 2:
            stream.cancel()
    assert isinstance(events[-1], Info) and events[-1].stop_reason == StopReason.CANCELLED
    assert session.last_info is events[-1]
    assert_turn_three_is_correct(context, session, before)


def test_cancel_during_prefill_rolls_back(chat_model):
    context = chat_model(answer, prefill_delay=0.002)
    session = ChatSession(context, parameters={"prefill_step_size": 8})
    session.respond("first")
    before = cache_ids(session)
    stream = session.stream_details("second " * 20)
    stream.cancel()
    events = list(stream)
    assert len(events) == 1 and events[0].stop_reason == StopReason.CANCELLED
    assert cache_ids(session) == before
    assert [m.role for m in session.history] == ["user", "assistant"]


async def test_task_cancel_rolls_back(chat_model):
    context, session, before = after_turn_one(chat_model)
    got: list[str] = []
    started = asyncio.Event()

    async def consume() -> None:
        async for delta in session.astream_response("second"):
            got.append(delta)
            started.set()

    task = asyncio.create_task(consume())
    await started.wait()
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert 0 < len(got) < 10
    assert_turn_three_is_correct(context, session, before)


def test_backend_failure_raises_from_stream_response_and_rolls_back(chat_model):
    context, session, before = after_turn_one(chat_model)
    with pytest.raises(RuntimeError, match="backend exploded"):
        session.respond("boom")
    assert isinstance(session.last_info, Info) and session.last_info.stop_reason == StopReason.ERROR
    assert_turn_three_is_correct(context, session, before)


def test_backend_failure_ends_stream_details_with_error_info(chat_model):
    context, session, before = after_turn_one(chat_model)
    events = list(session.stream_details("boom"))
    assert len(events) == 1
    info = events[0]
    assert isinstance(info, Info) and info.stop_reason == StopReason.ERROR
    assert isinstance(info.error, RuntimeError)
    assert_turn_three_is_correct(context, session, before)


def test_failure_mid_reply_rolls_back_after_the_text_before_it(chat_model):
    context = chat_model("abcdef", fail_at=3)
    session = ChatSession(context)
    got: list[str] = []
    with pytest.raises(ScriptedFailure, match="scripted failure at token 3"):
        for delta in session.stream_response("q"):
            got.append(delta)
    assert "".join(got) == "abc"
    assert session.history == []
    assert cache_ids(session) == []


def test_a_new_turn_abandons_an_unfinished_one(chat_model):
    _context, session, before = after_turn_one(chat_model)
    first = session.stream_response("second")
    next(first)
    assert [m.role for m in session.history] == ["user", "assistant", "user"]  # tentative
    assert session.respond("third") == "Answer 2 is a long enough reply."
    assert first.finished and list(first) == []
    info = session.last_info
    assert info is not None and info.cached_prompt_tokens == len(before)
    assert [m.content for m in session.history] == [
        "first", "Answer 1 is a long enough reply.", "third", "Answer 2 is a long enough reply."]


def test_dropping_an_unread_stream_rolls_back(chat_model):
    context, session, before = after_turn_one(chat_model)
    session.stream_details("second")  # never read: garbage at once
    gc.collect()
    assert_turn_three_is_correct(context, session, before)


def test_with_block_exit_rolls_back(chat_model):
    context, session, before = after_turn_one(chat_model)
    with session.stream_response("second") as stream:
        next(iter(stream))
    assert_turn_three_is_correct(context, session, before)


async def test_async_with_exit_rolls_back(chat_model):
    context, session, before = after_turn_one(chat_model)
    async with session.astream_details("second") as stream:
        async for _ in stream:
            break
    assert_turn_three_is_correct(context, session, before)
