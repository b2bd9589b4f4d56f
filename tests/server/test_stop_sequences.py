"""A stop string that ends the text: Anthropic ``stop_reason: "stop_sequence"`` with the matched
string (non-stream and the streamed ``message_delta``); OpenAI keeps ``finish_reason: "stop"``."""

from __future__ import annotations

import json
from typing import Any

import pytest

from .conftest import anthropic_client, http_client, sse_events

pytest.importorskip("starlette")

USER = [{"role": "user", "content": "hi"}]
REPLY = "The answer is 42. ###END### more text"


async def _post(app: Any, body: dict[str, Any], path: str = "/v1/messages") -> Any:
    async with http_client(app) as http:
        response = await http.post(path, json={"model": "scripted", "max_tokens": 100, **body})
    assert response.status_code == 200, response.text
    return response


@pytest.mark.parametrize("cut", ["chars", 3])
async def test_messages_reports_the_matched_stop_sequence(served: Any, cut: Any) -> None:
    app = served(REPLY, cut=cut)
    answer = (await _post(app, {"messages": USER, "stop_sequences": ["nope", "###END###"]})).json()
    assert answer["content"] == [{"type": "text", "text": "The answer is 42. "}]
    assert (answer["stop_reason"], answer["stop_sequence"]) == ("stop_sequence", "###END###")


async def test_messages_stream_reports_it_in_message_delta(served: Any) -> None:
    app = served(REPLY, cut=2)
    raw = (await _post(app, {"messages": USER, "stop_sequences": ["###END###"], "stream": True})).content
    deltas = [json.loads(d) for n, d in sse_events(raw) if n == "message_delta"]
    assert [d["delta"] for d in deltas] == [{"stop_reason": "stop_sequence", "stop_sequence": "###END###"}]
    start = next(json.loads(d) for n, d in sse_events(raw) if n == "message_start")
    assert start["message"]["stop_sequence"] is None


async def test_end_of_text_without_a_stop_sequence_is_end_turn(served: Any) -> None:
    app = served("plain answer")
    answer = (await _post(app, {"messages": USER, "stop_sequences": ["###END###"]})).json()
    assert (answer["stop_reason"], answer["stop_sequence"]) == ("end_turn", None)
    raw = (await _post(app, {"messages": USER, "stop_sequences": ["###END###"], "stream": True})).content
    delta = next(json.loads(d) for n, d in sse_events(raw) if n == "message_delta")["delta"]
    assert delta == {"stop_reason": "end_turn", "stop_sequence": None}


async def test_openai_chat_keeps_finish_reason_stop(served: Any) -> None:
    app = served(REPLY)
    answer = (await _post(app, {"messages": USER, "stop": ["###END###"]}, "/v1/chat/completions")).json()
    choice = answer["choices"][0]
    assert choice["finish_reason"] == "stop" and choice["message"]["content"] == "The answer is 42. "


async def test_official_anthropic_client_sees_the_stop_sequence(served: Any) -> None:
    pytest.importorskip("anthropic")
    pytest.importorskip("httpx2")
    client = anthropic_client(served(REPLY, cut=3))
    message = await client.messages.create(model="scripted", max_tokens=100, messages=USER,
                                           stop_sequences=["###END###"])
    assert (message.stop_reason, message.stop_sequence) == ("stop_sequence", "###END###")
    assert message.content[0].text == "The answer is 42. "
    async with client.messages.stream(model="scripted", max_tokens=100, messages=USER,
                                      stop_sequences=["###END###"]) as stream:
        final = await stream.get_final_message()
    assert (final.stop_reason, final.stop_sequence) == ("stop_sequence", "###END###")
