"""Parallel tool calls with a newline between them (tool_choice auto): no text block of only
whitespace in Messages, no ``content: "\\n"`` in chat completions; real text is kept."""

from __future__ import annotations

import json
from typing import Any

import pytest

from .conftest import http_client, sse_events

pytest.importorskip("starlette")

TOOL = {"name": "get_weather", "description": "Weather.",
        "input_schema": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}}
CALL = '<tool_call>\n{{"name": "get_weather", "arguments": {{"city": "{}"}}}}\n</tool_call>'
TWO = CALL.format("Paris") + "\n" + CALL.format("Rome") + "\n"
USER = [{"role": "user", "content": "weather?"}]


async def _post(app: Any, path: str, body: dict[str, Any]) -> Any:
    async with http_client(app) as http:
        response = await http.post(path, json={"model": "scripted", "max_tokens": 300, **body})
    assert response.status_code == 200, response.text
    return response


async def test_messages_has_no_whitespace_text_block(served: Any) -> None:
    app = served(TWO, tool_parser="json", cut=3)
    answer = (await _post(app, "/v1/messages", {"messages": USER, "tools": [TOOL]})).json()
    assert [b["type"] for b in answer["content"]] == ["tool_use", "tool_use"]
    raw = (await _post(app, "/v1/messages", {"messages": USER, "tools": [TOOL], "stream": True})).content
    starts = [json.loads(d)["content_block"]["type"] for n, d in sse_events(raw) if n == "content_block_start"]
    assert starts == ["tool_use", "tool_use"]


async def test_messages_keeps_real_text_around_calls(served: Any) -> None:
    app = served("Checking both.\n" + TWO + "Done.", tool_parser="json")
    answer = (await _post(app, "/v1/messages", {"messages": USER, "tools": [TOOL]})).json()
    assert [(b["type"], b.get("text")) for b in answer["content"]] == [
        ("text", "Checking both.\n"), ("tool_use", None), ("tool_use", None), ("text", "\nDone.")]


async def test_chat_completions_has_no_newline_content(served: Any) -> None:
    app = served(TWO, tool_parser="json", cut=2)
    tools = [{"type": "function", "function": {"name": "get_weather", "parameters": TOOL["input_schema"]}}]
    answer = (await _post(app, "/v1/chat/completions", {"messages": USER, "tools": tools})).json()
    message = answer["choices"][0]["message"]
    assert not message["content"] and len(message["tool_calls"]) == 2
    raw = (await _post(app, "/v1/chat/completions", {"messages": USER, "tools": tools, "stream": True})).content
    text = "".join(json.loads(d)["choices"][0]["delta"].get("content") or "" for _, d in sse_events(raw)
                   if d != "[DONE]" and json.loads(d)["choices"])
    assert text == ""
