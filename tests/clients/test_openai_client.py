"""The official ``openai`` client against a real ``lmstream serve``: chat and completions, streamed
and not, a tool loop (``tool_choice: "required"``, then the tool result, then text), structured
output with ``chat.completions.parse``, reasoning, and model names the client picks itself."""

from __future__ import annotations

import json
from typing import Any

import pytest
from pydantic import BaseModel

from .conftest import FINAL, SMOL_TEMPLATE, WEATHER_CALL, WEATHER_TOOL, Server

openai = pytest.importorskip("openai")

pytestmark = pytest.mark.clients

USER = [{"role": "user", "content": "What is the weather in Paris?"}]


def _client(base: str) -> Any:
    return openai.OpenAI(base_url=f"{base}/v1", api_key="unused", max_retries=0, timeout=60)


def test_chat_and_completions_streamed_and_not(scripted_server: Server) -> None:
    with scripted_server("<think>Easy one.</think>Paris is sunny.") as base:
        client = _client(base)
        answer = client.chat.completions.create(model="gpt-4o-mini", messages=USER)
        message = answer.choices[0].message
        assert message.content == "Paris is sunny." and answer.model == "scripted"
        extra = message.model_extra or {}
        assert extra.get("reasoning_content") == extra.get("reasoning") == "Easy one."
        chunks = list(client.chat.completions.create(model="gpt-4o-mini", messages=USER, stream=True,
                                                     stream_options={"include_usage": True}))
        assert "".join(c.choices[0].delta.content or "" for c in chunks if c.choices) == "Paris is sunny."
        assert chunks[-1].usage is not None and chunks[-1].usage.completion_tokens > 0
        text = client.completions.create(model="gpt-3.5-turbo-instruct", prompt="Weather?", max_tokens=64)
        assert text.choices[0].text == "<think>Easy one.</think>Paris is sunny."
        streamed = client.completions.create(model="davinci-002", prompt="Weather?", max_tokens=64, stream=True)
        assert "".join(c.choices[0].text for c in streamed if c.choices) == text.choices[0].text


def _tool_loop(client: Any, stream: bool) -> tuple[Any, str]:
    """Turn 1 with tool_choice required -> a call; turn 2 with the tool's result -> text."""
    if stream:
        calls: dict[int, dict[str, str]] = {}
        for chunk in client.chat.completions.create(model="gpt-4o", messages=USER, tools=[WEATHER_TOOL],
                                                    tool_choice="required", stream=True):
            for delta in (chunk.choices[0].delta.tool_calls or []) if chunk.choices else []:
                call = calls.setdefault(delta.index, {"id": "", "name": "", "arguments": ""})
                call["id"] = delta.id or call["id"]
                if delta.function:
                    call["name"] += delta.function.name or ""
                    call["arguments"] += delta.function.arguments or ""
        call = calls[0]
        tool_calls = [{"id": call["id"], "type": "function",
                       "function": {"name": call["name"], "arguments": call["arguments"]}}]
    else:
        first = client.chat.completions.create(model="gpt-4o", messages=USER, tools=[WEATHER_TOOL],
                                               tool_choice="required")
        assert first.choices[0].finish_reason == "tool_calls"
        tool_calls = [c.model_dump() for c in first.choices[0].message.tool_calls]
    assert tool_calls[0]["function"]["name"] == "get_weather"
    assert json.loads(tool_calls[0]["function"]["arguments"]) == {"city": "Paris"}
    messages = [*USER, {"role": "assistant", "content": None, "tool_calls": tool_calls},
                {"role": "tool", "tool_call_id": tool_calls[0]["id"], "content": "sunny, 24 C"}]
    second = client.chat.completions.create(model="gpt-4o", messages=messages, tools=[WEATHER_TOOL])
    return second, tool_calls[0]["id"]


@pytest.mark.parametrize("stream", [False, True])
def test_tool_loop_required_then_result(scripted_server: Server, stream: bool) -> None:
    with scripted_server([WEATHER_CALL, FINAL]) as base:
        second, call_id = _tool_loop(_client(base), stream)
        assert call_id and second.choices[0].message.content == FINAL
        assert second.choices[0].finish_reason == "stop"


def test_tool_loop_on_a_model_without_a_tool_format(scripted_server: Server) -> None:
    """No known format: the generic fallback (a bare JSON call) works with no server flags."""
    generic_call = '{"name": "get_weather", "arguments": {"city": "Paris"}}'
    with scripted_server([generic_call, FINAL], tool_format=None) as base:
        second, _ = _tool_loop(_client(base), stream=False)
        assert second.choices[0].message.content == FINAL


def test_tool_loop_on_a_template_that_reads_content(scripted_server: Server) -> None:
    with scripted_server([WEATHER_CALL, FINAL], options={"model_chat_template": SMOL_TEMPLATE}) as base:
        second, _ = _tool_loop(_client(base), stream=False)
        assert second.choices[0].message.content == FINAL


class Weather(BaseModel):
    city: str
    temperature: int


def test_structured_output_with_parse(scripted_server: Server) -> None:
    pytest.importorskip("llguidance")
    with scripted_server('{"city": "Paris", "temperature": 24}') as base:
        answer = _client(base).chat.completions.parse(model="gpt-4o", messages=USER, response_format=Weather)
        assert answer.choices[0].message.parsed == Weather(city="Paris", temperature=24)
        json_mode = _client(base).chat.completions.create(model="gpt-4o", messages=USER,
                                                          response_format={"type": "json_object"})
        assert json.loads(json_mode.choices[0].message.content) == {"city": "Paris", "temperature": 24}
