"""Tool calls the caller answers: pending calls, add_tool_result, respond(None) to continue."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

import lmstream
from lmstream import Info, StopReason, ToolCall, ToolSpec
from lmstream.chat import ChatSession

QWEN = (Path(__file__).parents[1] / "data" / "templates" / "qwen2.5-instruct.jinja").read_text()
WEATHER = ToolSpec(name="get_weather", description="Current weather",
                   parameters={"type": "object", "properties": {"city": {"type": "string"}},
                               "required": ["city"]})


def call(name: str, **arguments: Any) -> str:
    payload = json.dumps({"name": name, "arguments": arguments})
    return f"<tool_call>\n{payload}\n</tool_call>"


TWO_CALLS = call("get_weather", city="Paris") + "\n" + call("get_weather", city="Lima")
"""Two calls exactly as the Qwen2.5 template renders them back."""


@pytest.fixture
def context(chat_model) -> lmstream.ModelContext:
    replies = [TWO_CALLS, "Paris 21, Lima 18."]
    return chat_model(replies, model_chat_template=QWEN, end_token="<|im_end|>", tool_parser="json")


def test_calls_wait_for_the_caller(context):
    session = ChatSession(context, tools=[WEATHER])
    events = list(session.stream_details("Weather in Paris and Lima?"))
    calls = [e for e in events if isinstance(e, ToolCall)]
    assert [c.arguments for c in calls] == [{"city": "Paris"}, {"city": "Lima"}]
    assert isinstance(events[-1], Info) and events[-1].stop_reason == StopReason.STOP
    assert session.pending_tool_calls == calls
    assert [m.role for m in session.history] == ["user", "assistant"]

    with pytest.raises(ValueError, match="have no result yet"):
        session.respond("never mind")
    with pytest.raises(ValueError, match=r"no pending tool call with id 'nope' \(pending: "):
        session.add_tool_result("nope", "x")

    first = session.add_tool_result(calls[0].id, {"temperature": 21})
    assert (first.role, first.content, first.name) == ("tool", '{"temperature":21}', "get_weather")
    assert session.pending_tool_calls == calls[1:]
    with pytest.raises(ValueError, match="have no result yet"):
        session.respond(None)
    session.add_tool_result(calls[1].id, "18 degrees")
    assert session.pending_tool_calls == []

    assert session.respond(None) == "Paris 21, Lima 18."
    info = session.last_info
    assert info is not None
    # the continuation reused everything up to the end of the model's tool calls
    p1 = context.prepare(lmstream.UserInput(messages=session.history[:1], tools=session.tools)).tokens
    assert info.cached_prompt_tokens == len(p1) + len(TWO_CALLS)
    assert [m.role for m in session.history] == ["user", "assistant", "tool", "tool", "assistant"]


def test_stream_response_ends_quietly_on_pending_calls(context):
    session = ChatSession(context, tools=[WEATHER])
    stream = session.stream_response("Weather?")
    assert "".join(stream) == ""  # the newline between the two calls is not content
    assert stream.text == ""
    assert len(session.pending_tool_calls) == 2


def test_dispatch_runs_what_it_can_and_leaves_the_rest(chat_model):
    replies = [call("get_weather", city="Paris") + call("get_time", zone="CET"), "Sunny at noon."]
    context = chat_model(replies, model_chat_template=QWEN, end_token="<|im_end|>", tool_parser="json")
    time_spec = {"type": "function", "function": {"name": "get_time", "parameters": {
        "type": "object", "properties": {"zone": {"type": "string"}}}}}
    session = ChatSession(context, tools=[time_spec],
                          tool_dispatch={"get_weather": lambda city: f"sunny in {city}"})
    events = list(session.stream_details("Weather and time?"))
    assert [type(e).__name__ for e in events] == ["ToolCall", "ToolCall", "ToolResult", "Info"]
    pending = session.pending_tool_calls
    assert [c.name for c in pending] == ["get_time"]
    session.add_tool_result(pending[0].id, "12:00")
    assert session.respond(None) == "Sunny at noon."
    assert [m.content for m in session.history if m.role == "tool"] == ["sunny in Paris", "12:00"]


def test_tool_results_need_a_finished_turn(context):
    session = ChatSession(context, tools=[WEATHER])
    stream = session.stream_details("Weather?")
    with pytest.raises(RuntimeError, match="a turn is running"):
        session.add_tool_result("x", "y")
    list(stream)
    assert len(session.pending_tool_calls) == 2


def test_pending_calls_from_an_openai_history(chat_model):
    context = chat_model("Noted.", model_chat_template=QWEN, end_token="<|im_end|>")
    history = [{"role": "user", "content": "q"},
               {"role": "assistant", "content": None, "tool_calls": [
                   {"id": "call_1", "type": "function",
                    "function": {"name": "get_weather", "arguments": '{"city": "Rome"}'}}]}]
    session = ChatSession(context, tools=[WEATHER], history=history)
    assert session.pending_tool_calls == [ToolCall("call_1", "get_weather", {"city": "Rome"})]
    session.add_tool_result("call_1", "rainy")
    assert session.respond(None) == "Noted."
