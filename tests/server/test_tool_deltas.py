"""Tool calls streamed as the parser emits ToolCallDelta events, mapped onto every API's deltas.

A small parser plugin (tests/server/ray_plugin.py's SectionParser, shared with the Ray tests)
streams argument fragments as they are fed (``§`` starts a call of get_weather whose arguments
are the rest of the reply), the way parsers do with ``stream_tool_calls=True``.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest

import lmstream

from .asgi_driver import call
from .conftest import WEATHER_TOOL, anthropic_client, openai_client, sse_events
from .ray_plugin import SectionParser

REPLY = 'Sure.§{"city": "Paris", "days": 3}'


class SectionPlugin:
    @lmstream.hookimpl
    def lmstream_register_tool_parsers(self, register: Any) -> None:
        register("section", SectionParser)


@pytest.fixture
def section_app(plugin_system: Any, served: Any) -> Iterator[Any]:
    plugin_system.register(SectionPlugin(), name="section-plugin")
    yield served(REPLY, tool_parser="section")


@pytest.fixture
def broken_app(plugin_system: Any, served: Any) -> Iterator[Any]:
    plugin_system.register(SectionPlugin(), name="section-plugin")
    yield served('Sure.§{"city": "Par', tool_parser="section")


async def test_chat_deltas_are_the_parsers_fragments(section_app: Any) -> None:
    client = openai_client(section_app)
    stream = await client.chat.completions.create(model="scripted", stream=True, tools=[WEATHER_TOOL],
                                                  messages=[{"role": "user", "content": "Weather?"}])
    deltas = [d async for c in stream if c.choices for d in c.choices[0].delta.tool_calls or []]
    assert deltas[0].id == "call_s1" and deltas[0].type == "function" and deltas[0].function.name == "get_weather"
    assert all(d.index == 0 for d in deltas) and all(d.id is None for d in deltas[1:])
    assert len(deltas) > 5  # fragments as generated, not one final blob
    arguments = "".join(d.function.arguments or "" for d in deltas)
    assert json.loads(arguments) == {"city": "Paris", "days": 3}
    whole = await client.chat.completions.create(model="scripted", tools=[WEATHER_TOOL],
                                                 messages=[{"role": "user", "content": "Weather?"}])
    assert json.loads(whole.choices[0].message.tool_calls[0].function.arguments) == json.loads(arguments)


async def test_responses_and_messages_stream_the_fragments(section_app: Any) -> None:
    exchange = await call(section_app, "/v1/responses", {
        "model": "scripted", "input": "Weather?", "stream": True,
        "tools": [{"type": "function", "name": "get_weather", "parameters": {"type": "object"}}]})
    events = [json.loads(d) for _, d in sse_events(exchange.body)]
    fragments = [e["delta"] for e in events if e["type"] == "response.function_call_arguments.delta"]
    done = next(e for e in events if e["type"] == "response.function_call_arguments.done")
    assert len(fragments) > 5 and json.loads("".join(fragments)) == json.loads(done["arguments"])
    client = anthropic_client(section_app)
    async with client.messages.stream(model="scripted", max_tokens=200,
                                      tools=[{"name": "get_weather", "input_schema": {"type": "object"}}],
                                      messages=[{"role": "user", "content": "Weather?"}]) as stream:
        partials = [e.delta.partial_json async for e in stream
                    if e.type == "content_block_delta" and e.delta.type == "input_json_delta"]
        final = await stream.get_final_message()
    assert len(partials) > 5
    assert final.content[-1].type == "tool_use" and final.content[-1].input == {"city": "Paris", "days": 3}


async def test_a_streamed_call_that_is_rejected_becomes_content(broken_app: Any) -> None:
    client = openai_client(broken_app)
    stream = await client.chat.completions.create(model="scripted", stream=True, tools=[WEATHER_TOOL],
                                                  messages=[{"role": "user", "content": "Weather?"}])
    chunks = [c async for c in stream if c.choices]
    content = "".join(c.choices[0].delta.content or "" for c in chunks)
    assert content == 'Sure.§{"city": "Par'  # nothing lost
    assert chunks[-1].choices[0].finish_reason == "stop"
    exchange = await call(broken_app, "/v1/responses", {
        "model": "scripted", "input": "Weather?", "stream": True,
        "tools": [{"type": "function", "name": "get_weather", "parameters": {"type": "object"}}]})
    events = [json.loads(d) for _, d in sse_events(exchange.body)]
    output = events[-1]["response"]["output"]
    assert [(i["type"], i["status"]) for i in output] == [
        ("message", "completed"), ("function_call", "incomplete"), ("message", "completed")]
    assert output[2]["content"][0]["text"] == '§{"city": "Par'
