"""The async forms: ``async for`` over the same streams, ``arespond``, sessions sharing a model."""

from __future__ import annotations

import asyncio

import pytest

from lmstream import Info, StopReason
from lmstream.chat import ChatSession


def numbered(prompt: str) -> str:
    if "boom" in prompt.rsplit("<|im_start|>user", 1)[-1]:
        raise RuntimeError("backend exploded")
    return f"Reply {prompt.count('<|im_start|>user')}."


async def test_arespond_reuses_the_cache(chat_model):
    session = ChatSession(chat_model(numbered))
    assert await session.arespond("one") == "Reply 1."
    first = session.last_info
    assert await session.arespond("two") == "Reply 2."
    second = session.last_info
    assert first is not None and second is not None
    assert second.cached_prompt_tokens == first.prompt_tokens + len("Reply 1.")


async def test_async_for_over_stream_details(chat_model):
    session = ChatSession(chat_model(numbered))
    events = [event async for event in session.astream_details("one")]
    assert isinstance(events[-1], Info) and events[-1].stop_reason == StopReason.STOP
    assert "".join(e.text for e in events[:-1]) == "Reply 1."
    deltas = [delta async for delta in session.stream_response("two")]  # same object, either spelling
    assert "".join(deltas) == "Reply 2."


async def test_async_failure_raises_and_rolls_back(chat_model):
    session = ChatSession(chat_model(numbered))
    await session.arespond("one")
    with pytest.raises(RuntimeError, match="backend exploded"):
        await session.arespond("boom")
    assert [m.content for m in session.history] == ["one", "Reply 1."]


async def test_a_stream_is_read_one_way(chat_model):
    session = ChatSession(chat_model(numbered, token_delay=0.001))
    stream = session.stream_response("one")
    next(stream)
    with pytest.raises(TypeError, match="not both"):
        async for _ in stream:
            pass
    assert stream.finished  # the misuse left the turn
    assert session.history == []


async def test_sessions_sharing_one_model_stay_apart(chat_model):
    context = chat_model(numbered, token_delay=0.001)
    sessions = [ChatSession(context, f"You are bot {i}.") for i in range(3)]

    async def chat(session: ChatSession) -> list[str]:
        return [await session.arespond(f"turn {n}") for n in range(3)]

    replies = await asyncio.gather(*(chat(s) for s in sessions))
    assert replies == [["Reply 1.", "Reply 2.", "Reply 3."]] * 3
    for i, session in enumerate(sessions):
        assert [m.content for m in session.history] == [
            f"You are bot {i}.", "turn 0", "Reply 1.", "turn 1", "Reply 2.", "turn 2", "Reply 3."]
        info = session.last_info
        assert info is not None and info.cached_prompt_tokens > 0
