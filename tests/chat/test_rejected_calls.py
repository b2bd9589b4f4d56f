"""Calls the parser refuses (undeclared tool, arguments off the schema) go back to the model as
error tool results so it can retry, bounded by the round limit; ``raise_on_rejected_calls``
keeps raising ``ToolCallRejected``; malformed calls still raise from ``respond``."""

from __future__ import annotations

import json
from typing import Any

import pytest

import lmstream
from lmstream import GenerationError, Info, RejectedToolCall, ToolCallRejected
from lmstream.chat import ChatSession, ToolResult


def call(name: str, **arguments: Any) -> str:
    return "<tool_call>\n" + json.dumps({"name": name, "arguments": arguments}) + "\n</tool_call>"


def convert(celsius: float) -> float:
    """Celsius to Fahrenheit."""
    return celsius * 9 / 5 + 32


@pytest.fixture
def tool_model(chat_model):
    def make(reply: Any) -> lmstream.ModelContext:
        return chat_model(reply, chat_template="chatml", tool_parser="json", end_token="<|im_end|>")

    return make


def tool_messages(session: ChatSession) -> list[Any]:
    return [json.loads(m.content) if m.content.startswith("{") else m.content
            for m in session.history if m.role == "tool"]


def test_invalid_arguments_are_answered_and_the_model_retries(tool_model):
    context = tool_model([call("convert", celsius="warm"), call("convert", celsius=20), "68 F."])
    session = ChatSession(context, tool_dispatch=[convert])
    assert session.respond("20 C in F?") == "68 F."
    errors = tool_messages(session)
    assert "invalid_arguments" in errors[0]["error"] and errors[1] == "68.0"
    refused = session.history[1]  # history: user, assistant (refused call), tool, ...
    assert refused.role == "assistant" and refused.tool_calls[0]["function"] == {
        "name": "convert", "arguments": {"celsius": "warm"}}
    assert session.history[2].tool_call_id == refused.tool_calls[0]["id"]


def test_an_undeclared_tool_is_answered(tool_model):
    context = tool_model(["Hm. " + call("teleport", to="Mars"), "I cannot do that."])
    session = ChatSession(context, tool_dispatch=[convert])
    events = list(session.stream_details("Go to Mars"))
    rejected = [e for e in events if isinstance(e, RejectedToolCall)]
    results = [e for e in events if isinstance(e, ToolResult)]
    assert [(r.reason, r.name, r.arguments) for r in rejected] == [
        ("undeclared_tool", "teleport", {"to": "Mars"})]
    assert len(results) == 1 and results[0].is_error and results[0].name == "teleport"
    assert isinstance(results[0].error, ToolCallRejected)
    assert "not declared" in json.loads(results[0].content)["error"]
    assert isinstance(events[-1], Info) and session.history[-1].content == "I cannot do that."
    assert session.history[1].content == "Hm."  # the call is in tool_calls, not in the text


def test_refused_calls_count_as_tool_rounds(tool_model):
    context = tool_model(call("convert", celsius="warm"))  # never gets it right
    session = ChatSession(context, tool_dispatch=[convert], max_tool_rounds=2)
    with pytest.raises(GenerationError, match=r"after 2 tool rounds.*convert"):
        session.respond("q")
    assert session.history == []


def test_the_option_keeps_raising(tool_model):
    context = tool_model([call("teleport", to="Mars"), "unused"])
    session = ChatSession(context, tool_dispatch=[convert], raise_on_rejected_calls=True)
    with pytest.raises(ToolCallRejected, match="undeclared_tool"):
        session.respond("q")
    assert session.history == []


def test_a_malformed_call_still_raises(tool_model):
    context = tool_model("<tool_call>\n{not json}\n</tool_call>")
    session = ChatSession(context, tool_dispatch=[convert])
    with pytest.raises(ToolCallRejected, match="malformed"):
        session.respond("q")


def test_refused_and_dispatched_calls_answer_in_call_order(tool_model):
    context = tool_model([call("convert", celsius=0) + call("teleport", to="x")
                          + call("convert", celsius=100), "Done."])
    session = ChatSession(context, tool_dispatch=[convert])
    assert session.respond("q") == "Done."
    answers = tool_messages(session)
    assert answers[0] == "32.0" and "undeclared_tool" in answers[1]["error"] and answers[2] == "212.0"
    ids = [c["id"] for c in session.history[1].tool_calls]
    assert [m.tool_call_id for m in session.history if m.role == "tool"] == ids
