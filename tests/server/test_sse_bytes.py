"""Raw SSE bytes: headers, framing and event order of every streaming API; keep-alive comments."""

from __future__ import annotations

import json
from typing import Any

from .asgi_driver import call
from .conftest import sse_events

USER = [{"role": "user", "content": "Weather?"}]
TOOL = {"type": "function", "function": {"name": "get_weather", "parameters": {"type": "object"}}}


def _check_framing(raw: bytes) -> None:
    assert raw.endswith(b"\n\n")
    for block in raw.split(b"\n\n")[:-1]:
        for line in block.split(b"\n"):
            assert line.startswith((b"data: ", b"event: ", b":")), line


async def test_headers_of_a_stream(served: Any) -> None:
    exchange = await call(served("hi"), "/v1/chat/completions",
                          {"model": "scripted", "messages": USER, "stream": True})
    assert exchange.status == 200
    assert exchange.headers["content-type"].startswith("text/event-stream")
    assert exchange.headers["cache-control"] == "no-cache"
    assert exchange.headers["x-accel-buffering"] == "no"
    assert "content-encoding" not in exchange.headers and "content-length" not in exchange.headers


async def test_chat_event_order(weather_app: Any) -> None:
    exchange = await call(weather_app, "/v1/chat/completions", {
        "model": "scripted", "messages": USER, "tools": [TOOL], "stream": True,
        "stream_options": {"include_usage": True}})
    _check_framing(exchange.body)
    events = sse_events(exchange.body)
    assert all(name is None for name, _ in events)
    assert events[-1][1] == "[DONE]"
    chunks = [json.loads(data) for _, data in events[:-1]]
    kinds = []
    for chunk in chunks:
        if not chunk["choices"]:
            kinds.append("usage")
            continue
        choice = chunk["choices"][0]
        delta = choice["delta"]
        kind = ("role" if "role" in delta else "reasoning" if "reasoning_content" in delta else
                "content" if "content" in delta else "tool" if "tool_calls" in delta else
                f"finish:{choice['finish_reason']}")
        if not kinds or kinds[-1] != kind:
            kinds.append(kind)
    assert kinds == ["role", "reasoning", "content", "tool", "finish:tool_calls", "usage"]
    assert len({c["id"] for c in chunks}) == 1


async def test_completions_event_order(served: Any) -> None:
    exchange = await call(served("abc"), "/v1/completions", {"model": "scripted", "prompt": "x", "stream": True})
    _check_framing(exchange.body)
    events = sse_events(exchange.body)
    chunks = [json.loads(d) for _, d in events[:-1]]
    assert [c["choices"][0]["text"] for c in chunks] == ["a", "b", "c", ""]
    assert chunks[-1]["choices"][0]["finish_reason"] == "stop" and events[-1][1] == "[DONE]"


async def test_responses_event_order(weather_app: Any) -> None:
    exchange = await call(weather_app, "/v1/responses", {
        "model": "scripted", "input": "Weather?", "stream": True,
        "tools": [{"type": "function", "name": "get_weather", "parameters": {"type": "object"}}]})
    _check_framing(exchange.body)
    events = sse_events(exchange.body)
    names = [name for name, _ in events]
    assert all(json.loads(data)["type"] == name for name, data in events)
    collapsed = [n for i, n in enumerate(names) if i == 0 or names[i - 1] != n]
    assert collapsed == [
        "response.created", "response.in_progress",
        "response.output_item.added", "response.reasoning_text.delta", "response.reasoning_text.done",
        "response.output_item.done",
        "response.output_item.added", "response.content_part.added", "response.output_text.delta",
        "response.output_text.done", "response.content_part.done", "response.output_item.done",
        "response.output_item.added", "response.function_call_arguments.delta",
        "response.function_call_arguments.done", "response.output_item.done",
        "response.completed"]


async def test_messages_event_order(weather_app: Any) -> None:
    exchange = await call(weather_app, "/v1/messages", {
        "model": "scripted", "max_tokens": 500, "messages": USER, "stream": True,
        "tools": [{"name": "get_weather", "input_schema": {"type": "object"}}]})
    _check_framing(exchange.body)
    events = sse_events(exchange.body)
    assert all(json.loads(data)["type"] == name for name, data in events)
    flow = []
    for name, data in events:
        payload = json.loads(data)
        label = name
        if name == "content_block_start":
            label = f"start:{payload['content_block']['type']}"
        elif name == "content_block_delta":
            label = payload["delta"]["type"]
        if not flow or flow[-1] != label:
            flow.append(label)
    assert flow == ["message_start", "start:thinking", "thinking_delta", "signature_delta", "content_block_stop",
                    "start:text", "text_delta", "content_block_stop", "start:tool_use", "input_json_delta",
                    "content_block_stop", "message_delta", "message_stop"]
    assert json.loads(events[0][1])["message"]["usage"]["input_tokens"] > 5  # the prompt, known up front
    indexes = [json.loads(d)["index"] for n, d in events if n == "content_block_start"]
    assert indexes == [0, 1, 2]
    delta = json.loads(events[-2][1])
    assert delta["delta"]["stop_reason"] == "tool_use" and delta["usage"]["output_tokens"] > 0


async def test_keepalive_comments_during_a_long_prefill(served: Any) -> None:
    app = served("ok", prefill_delay=0.02, app_options={"keepalive_s": 0.1})
    exchange = await call(app, "/v1/chat/completions",
                          {"model": "scripted", "messages": [{"role": "user", "content": "x" * 20}], "stream": True})
    assert b": keep-alive\n\n" in exchange.body
    text = "".join(json.loads(d)["choices"][0]["delta"].get("content") or ""
                   for _, d in sse_events(exchange.body)[:-1])
    assert text == "ok"
