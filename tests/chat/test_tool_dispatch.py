"""Tool round trips the session runs itself: sync and async tools, failures, the round limit."""

from __future__ import annotations

import asyncio
import json
import threading
from pathlib import Path
from typing import Annotated, Any

import pytest
from pydantic import AfterValidator

import lmstream
from lmstream import GenerationError, Info, StopReason, ToolCall, ToolCallRejected
from lmstream.chat import ChatSession, ToolResult

QWEN = (Path(__file__).parents[1] / "data" / "templates" / "qwen2.5-instruct.jinja").read_text()


def call(name: str, **arguments: Any) -> str:
    """A Hermes tool call exactly as the Qwen2.5 template renders one back into the prompt."""
    payload = json.dumps({"name": name, "arguments": arguments}, ensure_ascii=False)
    return f"<tool_call>\n{payload}\n</tool_call>"


def get_weather(city: str, unit: str = "celsius") -> dict[str, Any]:
    """Get the current weather.

    Args:
        city: The city name.
        unit: celsius or fahrenheit.
    """
    if city == "Atlantis":
        raise LookupError(f"no weather station in {city}")
    return {"city": city, "temperature": 21, "unit": unit}


async def convert(celsius: float) -> float:
    """Convert a temperature to fahrenheit.

    Args:
        celsius: Degrees celsius.
    """
    await asyncio.sleep(0)
    return celsius * 9 / 5 + 32


@pytest.fixture
def tool_model(chat_model):
    def make(reply: Any, **options: Any) -> lmstream.ModelContext:
        options.setdefault("model_chat_template", QWEN)
        options.setdefault("end_token", "<|im_end|>")
        return chat_model(reply, tool_parser="json", **options)

    return make


def prompt_ids(context: lmstream.ModelContext, session: ChatSession, messages: list[Any]) -> list[int]:
    return list(context.prepare(lmstream.UserInput(messages=messages, tools=session.tools)).tokens)


def test_round_trip_with_sync_and_async_tools(tool_model):
    replies = [call("get_weather", city="Paris"), call("convert", celsius=21), "It is 69.8 °F in Paris."]
    context = tool_model(replies)
    session = ChatSession(context, tool_dispatch=[get_weather, convert])
    stream = session.stream_details("How warm is Paris in fahrenheit?")
    events = list(stream)
    kinds = [type(e).__name__ for e in events]
    assert kinds[:4] == ["ToolCall", "ToolResult", "ToolCall", "ToolResult"]
    assert kinds[-1] == "Info" and kinds.count("Info") == 1
    first, second = events[1], events[3]
    assert isinstance(first, ToolResult) and isinstance(second, ToolResult)
    assert json.loads(first.content) == {"city": "Paris", "temperature": 21, "unit": "celsius"}
    assert (second.name, second.content, second.is_error) == ("convert", "69.8", False)
    assert stream.text == "It is 69.8 °F in Paris."
    assert stream.tool_results == [first, second]

    history = session.history
    assert [m.role for m in history] == ["user", "assistant", "tool", "assistant", "tool", "assistant"]
    assert history[1].tool_calls == [{"id": events[0].id, "type": "function",
                                      "function": {"name": "get_weather", "arguments": {"city": "Paris"}}}]
    assert (history[2].tool_call_id, history[2].name) == (events[0].id, "get_weather")
    assert history[-1].content == "It is 69.8 °F in Paris."

    # each round reuses the previous round's prompt and its tool call (the template renders it back)
    assert len(stream.infos) == 3
    p1 = prompt_ids(context, session, history[:1])
    p2 = prompt_ids(context, session, history[:3])
    assert [i.cached_prompt_tokens for i in stream.infos] == [
        0, len(p1) + len(call("get_weather", city="Paris")), len(p2) + len(call("convert", celsius=21))]


async def test_round_trip_async(tool_model):
    context = tool_model([call("get_weather", city="Oslo"), call("convert", celsius=21), "Warm enough."])
    threads: list[str] = []

    def where(city: str) -> str:
        threads.append(threading.current_thread().name)
        return get_weather(city)["city"]

    session = ChatSession(context, tool_dispatch={"get_weather": where, "convert": convert})
    assert await session.arespond("Weather in Oslo?") == "Warm enough."
    assert [m.content for m in session.history if m.role == "tool"] == ["Oslo", "69.8"]
    assert threads and threads[0] != threading.current_thread().name  # sync tools leave the loop free


def test_two_calls_in_one_reply_are_both_run(tool_model):
    context = tool_model([call("get_weather", city="Rome") + "\n" + call("get_weather", city="Oslo"), "Both mild."])
    session = ChatSession(context, tool_dispatch=[get_weather])
    assert session.respond("Rome and Oslo?") == "Both mild."
    tools = [m for m in session.history if m.role == "tool"]
    assert [json.loads(m.content)["city"] for m in tools] == ["Rome", "Oslo"]
    assert [m.tool_call_id for m in tools] == [c["id"] for c in session.history[1].tool_calls or []]


def test_a_raising_tool_is_reported_to_the_model(tool_model):
    seen: list[str] = []

    def script(prompt: str) -> str:
        seen.append(prompt)
        return call("get_weather", city="Atlantis") if len(seen) == 1 else "Sorry, no data."

    context = tool_model(script)
    session = ChatSession(context, tool_dispatch=[get_weather])
    events = list(session.stream_details("Weather in Atlantis?"))
    result = next(e for e in events if isinstance(e, ToolResult))
    assert result.is_error and isinstance(result.error, LookupError)
    assert json.loads(result.content) == {"error": "LookupError: no weather station in Atlantis"}
    assert "<tool_response>\n" + result.content + "\n</tool_response>" in seen[1]  # the model read it
    assert isinstance(events[-1], Info) and events[-1].stop_reason == StopReason.STOP
    assert session.history[-1].content == "Sorry, no data."


def test_arguments_failing_validation_are_reported_to_the_model(tool_model):
    # the schema says "string"; only the callable's own validator knows more
    def capital(city: Annotated[str, AfterValidator(_capitalized)]) -> str:
        return f"{city} is a capital"

    context = tool_model([call("capital", city="rome"), call("capital", city="Rome"), "Done."])
    session = ChatSession(context, tool_dispatch=[capital])
    assert session.respond("q") == "Done."
    results = [m.content for m in session.history if m.role == "tool"]
    assert json.loads(results[0]) == {"error": "invalid arguments: city: Value error, not capitalized: 'rome'"}
    assert results[1] == "Rome is a capital"


def test_arguments_off_schema_are_rejected_by_the_parser(tool_model):
    context = tool_model([call("convert", celsius="warm"), "Done."])
    session = ChatSession(context, tool_dispatch=[convert], raise_on_rejected_calls=True)
    with pytest.raises(ToolCallRejected, match="invalid_arguments"):
        session.respond("q")
    assert session.history == []


def _capitalized(value: str) -> str:
    if not value[:1].isupper():
        raise ValueError(f"not capitalized: {value!r}")
    return value


def test_the_round_limit_stops_a_runaway_loop(tool_model):
    context = tool_model(call("get_weather", city="Paris"))  # the model never stops calling
    calls: list[str] = []

    def tracked(city: str) -> str:
        calls.append(city)
        return "sunny"

    session = ChatSession(context, tool_dispatch={"get_weather": tracked}, max_tool_rounds=2)
    session.history  # noqa: B018 - nothing yet
    with pytest.raises(GenerationError, match=r"after 2 tool rounds \(max_tool_rounds=2\)"):
        session.respond("Weather?")
    assert calls == ["Paris", "Paris"]
    assert session.history == []  # the failed turn was rolled back
    assert context.worker.call(lambda: list(session.cache.tokens)) == []

    events = list(session.stream_details("Weather?"))
    info = events[-1]
    assert isinstance(info, Info) and info.stop_reason == StopReason.ERROR
    assert isinstance(info.error, GenerationError)
    assert sum(isinstance(e, ToolCall) for e in events) == 3 and len(calls) == 4
    assert session.history == []


def test_zero_rounds_means_no_tool_runs(tool_model):
    context = tool_model(call("get_weather", city="Paris"))
    session = ChatSession(context, tool_dispatch=[get_weather], max_tool_rounds=0)
    with pytest.raises(GenerationError, match="max_tool_rounds=0"):
        session.respond("q")


def test_a_rejected_call_raises_from_stream_response(tool_model):
    context = tool_model("Let me see. <tool_call>\n{not json}\n</tool_call>")
    session = ChatSession(context, tool_dispatch=[get_weather])
    got: list[str] = []
    with pytest.raises(ToolCallRejected, match="rejected"):
        for delta in session.stream_response("q"):
            got.append(delta)
    assert "".join(got) == "Let me see. "
    assert session.history == []


def test_a_rejected_call_is_an_event_in_stream_details(tool_model):
    bad = "<tool_call>\n{not json}\n</tool_call>"
    context = tool_model("Let me see. " + bad)
    session = ChatSession(context, tool_dispatch=[get_weather])
    events = list(session.stream_details("q"))
    rejected = [e for e in events if isinstance(e, lmstream.RejectedToolCall)]
    assert len(rejected) == 1 and rejected[0].text == bad
    assert isinstance(events[-1], Info) and events[-1].stop_reason == StopReason.STOP
    # nothing the model said is lost: the raw call stays in the assistant message
    assert session.history[-1].content == "Let me see. " + bad


def test_tool_schemas_reach_the_template(tool_model):
    seen: list[str] = []
    context = tool_model(lambda prompt: seen.append(prompt) or "ok")
    session = ChatSession(context, tool_dispatch=[get_weather])
    session.respond("q")
    schema = session.tools[0].to_openai() if session.tools else None
    assert schema is not None
    assert json.dumps(schema, ensure_ascii=False) in seen[0]
    assert schema["function"]["parameters"]["properties"]["city"] == {
        "type": "string", "description": "The city name."}
