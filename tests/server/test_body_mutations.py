"""Every field of valid request bodies replaced by every kind of JSON value, and deleted: the
server answers 2xx or a 4xx in the API's error shape, never a 500.

The bodies use each API's nested shapes (content blocks, tool calls and their results, tool
declarations, input items, response formats), so a type check missing anywhere in a request's
conversion (an unhashable ``type``, an empty tool name reaching the chat layer) shows up as a
500 here. The walk is exhaustive and deterministic: every path, every replacement.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Iterator
from typing import Any

import pytest

from .conftest import http_client

SCHEMA = {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}
CHAT_TOOLS = {
    "model": "scripted", "max_tokens": 8, "temperature": 0.5, "stop": ["zz"], "tool_choice": "auto",
    "messages": [
        {"role": "system", "content": "be brief"},
        {"role": "user", "content": [{"type": "text", "text": "weather?"}]},
        {"role": "assistant", "content": None, "tool_calls": [
            {"id": "c1", "type": "function", "function": {"name": "get_weather", "arguments": "{\"city\": \"Paris\"}"}}]},
        {"role": "tool", "tool_call_id": "c1", "content": "sunny"}],
    "tools": [{"type": "function", "function": {"name": "get_weather", "description": "d", "parameters": SCHEMA}}],
}
CHAT_FORMAT = {
    "model": "scripted", "max_tokens": 8, "logprobs": True, "top_logprobs": 2, "seed": 1,
    "logit_bias": {"5": 1}, "stream": False,
    "messages": [{"role": "user", "content": "hi"}],
    "response_format": {"type": "json_schema", "json_schema": {"name": "r", "schema": SCHEMA}},
}
COMPLETIONS = {"model": "scripted", "prompt": "hi", "max_tokens": 8, "stop": ["zz"], "logprobs": 2, "echo": False}
MESSAGES = {
    "model": "scripted", "max_tokens": 8, "temperature": 0.5, "stop_sequences": ["zz"],
    "system": [{"type": "text", "text": "be brief"}],
    "messages": [
        {"role": "user", "content": [{"type": "text", "text": "weather?"}]},
        {"role": "assistant", "content": [
            {"type": "thinking", "thinking": "look it up", "signature": "s"},
            {"type": "tool_use", "id": "t1", "name": "get_weather", "input": {"city": "Paris"}}]},
        {"role": "user", "content": [
            {"type": "tool_result", "tool_use_id": "t1", "content": [{"type": "text", "text": "sunny"}]}]}],
    "tools": [{"name": "get_weather", "description": "d", "input_schema": SCHEMA}],
    "tool_choice": {"type": "auto"}, "metadata": {"user_id": "u"},
}
MESSAGES_MORE = {
    "model": "scripted", "system": "be brief", "stream": False,
    "messages": [
        {"role": "user", "content": [
            {"type": "document", "source": {"type": "text", "media_type": "text/plain", "data": "a note"}},
            {"type": "text", "text": "weather?", "cache_control": {"type": "ephemeral"}}]},
        {"role": "assistant", "content": [{"type": "redacted_thinking", "data": "x"},
                                          {"type": "tool_use", "id": "t1", "name": "get_weather", "input": {}}]},
        {"role": "user", "content": [{"type": "tool_result", "tool_use_id": "t1", "content": "sunny", "is_error": False}]}],
    "tools": [{"name": "get_weather", "input_schema": SCHEMA}],
    "tool_choice": {"type": "tool", "name": "get_weather"},
    "thinking": {"type": "enabled", "budget_tokens": 1024}, "max_tokens": 1100,
}
COUNT_TOKENS = {key: value for key, value in MESSAGES.items()
                if key not in ("max_tokens", "temperature", "stop_sequences", "metadata")}
RESPONSES = {
    "model": "scripted", "max_output_tokens": 8, "instructions": "be brief", "store": False,
    "input": [
        {"type": "message", "role": "user", "content": [{"type": "input_text", "text": "weather?"}]},
        {"type": "function_call", "call_id": "c1", "name": "get_weather", "arguments": "{\"city\": \"Paris\"}"},
        {"type": "function_call_output", "call_id": "c1", "output": "sunny"}],
    "tools": [{"type": "function", "name": "get_weather", "parameters": SCHEMA}],
    "tool_choice": {"type": "allowed_tools", "mode": "auto", "tools": [{"type": "function", "name": "get_weather"}]},
    "text": {"format": {"type": "text"}},
}
RESPONSES_MORE = {
    "model": "scripted", "max_output_tokens": 8, "store": False,
    "input": [
        {"role": "developer", "content": "be brief"},
        {"type": "message", "role": "user", "content": "write a haiku"},
        {"type": "reasoning", "summary": [{"type": "summary_text", "text": "think"}], "content": None},
        {"type": "custom_tool_call", "call_id": "c2", "name": "apply", "input": "diff"},
        {"type": "custom_tool_call_output", "call_id": "c2", "output": [{"type": "input_text", "text": "ok"}]}],
    "tools": [{"type": "custom", "name": "apply", "description": "d"},
              {"type": "namespace", "name": "ns", "description": "d",
               "tools": [{"type": "function", "name": "f", "parameters": SCHEMA}]}],
    "tool_choice": {"type": "function", "name": "f", "namespace": "ns"},
}
CHAT_MORE = {
    "model": "scripted", "max_completion_tokens": 8, "stream_options": None, "n": 1,
    "messages": [
        {"role": "developer", "content": [{"type": "text", "text": "be brief"}]},
        {"role": "user", "content": "weather?", "name": "ann"},
        {"role": "assistant", "content": [{"type": "text", "text": "calling"}], "tool_calls": [
            {"id": "c1", "type": "function", "function": {"name": "get_weather", "arguments": "{}"}}]},
        {"role": "tool", "tool_call_id": "c1", "content": [{"type": "text", "text": "sunny"}]}],
    "tools": [{"type": "function", "function": {"name": "get_weather", "parameters": SCHEMA, "strict": True}}],
    "tool_choice": "none", "parallel_tool_calls": False, "response_format": {"type": "json_object"},
}
TOKENIZE = {"model": "scripted", "messages": [{"role": "user", "content": [{"type": "text", "text": "hi"}]}]}
DETOKENIZE = {"model": "scripted", "tokens": [1, 2, 3]}

CASES = [("/v1/chat/completions", CHAT_TOOLS), ("/v1/chat/completions", CHAT_FORMAT),
         ("/v1/chat/completions", CHAT_MORE), ("/v1/completions", COMPLETIONS), ("/v1/messages", MESSAGES),
         ("/v1/messages", MESSAGES_MORE), ("/v1/messages/count_tokens", COUNT_TOKENS),
         ("/v1/responses", RESPONSES), ("/v1/responses", RESPONSES_MORE),
         ("/tokenize", TOKENIZE), ("/detokenize", DETOKENIZE)]

DELETE = object()
REPLACEMENTS: list[Any] = [None, True, 0, -1, 2**70, 1.5, 1e308, "", "x", "\ud800", [], [{}], [[1]], {}, {"type": []},
                           DELETE]
"""Each kind of JSON value, the edge of each (empty, negative, huge, a lone surrogate), a list
and an object in a scalar's place; and the key removed."""


def paths(value: Any, prefix: tuple[Any, ...] = ()) -> Iterator[tuple[Any, ...]]:
    """Every path to a value inside ``value`` (dict keys and list indexes), the root excluded."""
    children = value.items() if isinstance(value, dict) else enumerate(value) if isinstance(value, list) else ()
    for key, child in children:
        yield (*prefix, key)
        yield from paths(child, (*prefix, key))


def mutated(body: dict[str, Any], path: tuple[Any, ...], replacement: Any) -> dict[str, Any]:
    """``body`` with the value at ``path`` replaced (or deleted)."""
    copied = copy.deepcopy(body)
    parent = copied
    for key in path[:-1]:
        parent = parent[key]
    if replacement is DELETE:
        del parent[path[-1]]
    else:
        parent[path[-1]] = replacement
    return copied


def _label(replacement: Any) -> str:
    return "<deleted>" if replacement is DELETE else json.dumps(replacement)[:20]


def test_the_walk_covers_nested_shapes() -> None:
    """The bodies reach deep: the walk must visit content blocks and tool call internals."""
    walked = {path for _, body in CASES for path in paths(body)}
    assert ("messages", 1, "content", 0, "type") in walked
    assert ("input", 1, "name") in walked
    assert ("tools", 0, "function", "parameters", "properties", "city", "type") in walked
    assert len(walked) > 100


@pytest.mark.parametrize(("route", "body"), CASES, ids=[f"{route}#{i}" for i, (route, _) in enumerate(CASES)])
async def test_no_mutation_is_a_server_error(served: Any, route: str, body: dict[str, Any]) -> None:
    app = served(reply="Sunny, 20 degrees.")
    async with http_client(app) as http:
        valid = await http.post(route, json=body)
        assert valid.status_code == 200, valid.text
        failures = []
        for path in paths(body):
            for replacement in REPLACEMENTS:
                payload = json.dumps(mutated(body, path, replacement)).encode()
                response = await http.post(route, content=payload, headers={"content-type": "application/json"})
                where = f"{'.'.join(map(str, path))} = {_label(replacement)}"
                if response.status_code >= 500:
                    failures.append(f"{where}: {response.status_code} {response.text[:160]}")
                elif response.status_code >= 400:
                    error = response.json().get("error")
                    if not isinstance(error, dict) or not error.get("message"):
                        failures.append(f"{where}: {response.status_code} without an error message: {response.text[:160]}")
    assert not failures, f"{len(failures)} mutations failed:\n" + "\n".join(failures[:40])
