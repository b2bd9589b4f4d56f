"""/v1/messages and count_tokens: every client mistake is a 400 in Anthropic's shape naming the field.

Strict types (no coercion), unknown and unsupported fields named, lone surrogates anywhere,
count limits on messages, content blocks, stop_sequences and tools, bad block types and
tool_result contents; and a property test: no body shape makes request preparation fail
with anything but a 400 (never a 500, never a crash).
"""

from __future__ import annotations

import json
import time
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from .conftest import http_client

pytest.importorskip("starlette")

from lmstream_server.anthropic_prepare import prepare_count, prepare_messages
from lmstream_server.errors import APIError

USER = [{"role": "user", "content": "hi"}]
BASE = {"model": "scripted", "max_tokens": 20, "messages": USER}
TOOL = {"name": "get_weather", "description": "Weather.",
        "input_schema": {"type": "object", "properties": {"city": {"type": "string"}}}}
SURROGATE = "\ud800"


def _raw(body: dict[str, Any]) -> bytes:
    """JSON with ``\\ud800`` escapes kept (as a client that sends lone surrogates writes it)."""
    return json.dumps(body, ensure_ascii=True).encode()


async def _post(app: Any, body: dict[str, Any], path: str = "/v1/messages") -> Any:
    async with http_client(app) as http:
        return await http.post(path, content=_raw(body), headers={"content-type": "application/json"})


def _assert_names(response: Any, field: str) -> None:
    assert response.status_code == 400, response.text
    error = response.json()
    assert error["type"] == "error" and error["error"]["type"] == "invalid_request_error", error
    assert field in error["error"]["message"], (field, error)


def _deep(levels: int) -> dict[str, Any]:
    schema: dict[str, Any] = {"type": "object"}
    for _ in range(levels):
        schema = {"type": "object", "properties": {"a": schema}}
    return schema


BAD_BODIES: list[tuple[dict[str, Any], str]] = [
    ({**BASE, "output_config": {"format": {"type": "json_schema", "schema": _deep(200)}}}, "nests deeper than"),
    ({**BASE, "tools": [{**TOOL, "input_schema": _deep(200)}]}, "tools[0].input_schema.properties.a"),
    ({**BASE, "messages": [{"role": "assistant", "content": [
        {"type": "tool_use", "id": "i", "name": "t", "input": {"x": _deep(100)}}]}]}, "messages[0].content[0].input.x"),

    ({**BASE, "messages": [{"role": "user", "content": "a" + SURROGATE}]}, "messages[0].content"),
    ({**BASE, "messages": [{"role": "user", "content": [{"type": "text", "text": SURROGATE}]}]},
     "messages[0].content[0].text"),
    ({**BASE, "system": "s" + SURROGATE}, "system"),
    ({**BASE, "system": [{"type": "text", "text": SURROGATE}]}, "system[0].text"),
    ({**BASE, "tools": [{**TOOL, "description": SURROGATE}]}, "tools[0].description"),
    ({**BASE, "tools": [{**TOOL, "input_schema": {"type": "object", "properties": {SURROGATE: {}}}}]},
     "tools[0].input_schema.properties.<key>"),
    ({**BASE, "stop_sequences": ["ok", SURROGATE]}, "stop_sequences[1]"),
    ({**BASE, "metadata": {"user_id": SURROGATE}}, "metadata.user_id"),
    ({**BASE, "model": SURROGATE}, "model"),
    ({**BASE, "messages": [{"role": "user", "content": [
        {"type": "tool_result", "tool_use_id": "t", "content": ["x"]}]}]}, "messages[0].content[0].content[0]"),
    ({**BASE, "messages": [{"role": "user", "content": [{"type": "wizard"}]}]}, "messages[0].content[0].type"),
    ({**BASE, "messages": [{"role": "user", "content": [{"type": "image", "source": {}}]}]},
     "messages[0].content[0].type"),
    ({**BASE, "messages": [{"role": "user", "content": [{"type": "text"}]}]}, "messages[0].content[0].text"),
    ({**BASE, "messages": [{"role": "user", "content": [{"type": "text", "text": 5}]}]},
     "messages[0].content[0].text"),
    ({**BASE, "messages": [{"role": "user", "content": [{"type": "tool_use", "id": "a", "name": "b", "input": {}}]}]},
     "messages[0].content[0].type"),
    ({**BASE, "messages": [{"role": "assistant", "content": [
        {"type": "tool_use", "id": "a", "name": "b", "input": "x"}]}]}, "messages[0].content[0].input"),
    ({**BASE, "messages": [{"role": "wizard", "content": "x"}]}, "messages[0].role"),
    ({**BASE, "messages": ["hello"]}, "messages[0]"),
    ({**BASE, "messages": [{"role": "user", "content": 5}]}, "messages[0].content"),
    ({**BASE, "messages": [{"role": "user", "content": "x", "extra": 1}]}, "messages[0].extra"),
    ({**BASE, "temperature": True}, "temperature"),
    ({**BASE, "temperature": 1.5}, "temperature"),
    ({**BASE, "max_tokens": "1"}, "max_tokens"),
    ({**BASE, "max_tokens": 5.0}, "max_tokens"),
    ({**BASE, "stream": "true"}, "stream"),
    ({**BASE, "stream": 0}, "stream"),
    ({**BASE, "top_k": True}, "top_k"),
    ({**BASE, "stop_sequences": "x"}, "stop_sequences"),
    ({**BASE, "stop_sequences": [""]}, "stop_sequences"),  # the core checks stops (no index)
    ({**BASE, "stop_sequences": ["x"] * 65}, "stop_sequences"),
    ({**BASE, "thinking": {"type": "enabled"}}, "thinking.budget_tokens"),
    ({**BASE, "thinking": {"type": "enabled", "budget_tokens": 20}}, "thinking.budget_tokens"),
    ({**BASE, "thinking": {"type": "sometimes"}}, "thinking.type"),
    ({**BASE, "tools": [TOOL], "tool_choice": {"type": "tool", "name": "nope"}}, "tool_choice.name"),
    ({**BASE, "tools": [TOOL], "tool_choice": {"type": "tool"}}, "tool_choice.name"),
    ({**BASE, "tool_choice": {"type": "any"}}, "tool_choice.type"),
    ({**BASE, "tool_choice": {"type": "maybe"}}, "tool_choice.type"),
    ({**BASE, "tools": [{"type": "web_search_20250305", "name": "web_search"}]}, "tools[0].type"),
    ({**BASE, "tools": [{**TOOL, "input_schema": "x"}]}, "tools[0].input_schema"),
    ({**BASE, "tools": [TOOL, TOOL]}, "duplicate tool name"),
    ({**BASE, "tools": [{**TOOL, "name": "a b"}]}, "tools[0].name"),
    ({**BASE, "tools": [{**TOOL, "input_schema": {"type": "object", "properties": {"x": {"type": "foo"}}}}]},
     "tools[0].input_schema"),
    ({**BASE, "context_management": {"edits": [{"type": "compact_everything"}]}}, "context_management.edits[0].type"),
    ({**BASE, "context_management": {"edits": [{"type": "clear_thinking_20251015", "keep": 3}]}},
     "context_management.edits[0].keep"),
    ({**BASE, "output_config": {"effort": "extreme"}}, "output_config.effort"),
    ({**BASE, "output_config": {"format": {"type": "json_schema", "schema": {"type": "nonsense"}}}},
     "output_config.format"),
    ({**BASE, "output_config": {"format": {"type": "regex", "pattern": "a"}}}, "output_config.format.type"),
    ({**BASE, "mcp_servers": [{"type": "url", "url": "http://x", "name": "m"}]}, "mcp_servers"),
    ({**BASE, "container": "container_1"}, "container"),
    ({**BASE, "service_tier": "priority"}, "service_tier"),
    ({**BASE, "frobnicate": 1}, "frobnicate"),
    ({**BASE, "messages": [{"role": "assistant", "content": "Once"}]}, "a user message must come before it"),
    ({**BASE, "messages": [{"role": "user", "content": [{"type": "document", "source": {
        "type": "base64", "media_type": "application/pdf", "data": "x"}}]}]}, "messages[0].content[0].source.type"),
]


@pytest.mark.parametrize(("body", "field"), BAD_BODIES, ids=[f for _, f in BAD_BODIES])
async def test_client_mistakes_are_400_naming_the_field(served: Any, body: dict[str, Any], field: str) -> None:
    _assert_names(await _post(served(), body), field)


@pytest.mark.parametrize(("body", "field"), [
    ({"model": "scripted", "messages": [{"role": "user", "content": SURROGATE}]}, "messages[0].content"),
    ({"model": "scripted", "messages": USER, "system": [{"type": "text", "text": SURROGATE}]}, "system[0].text"),
    ({"model": "scripted", "messages": USER, "tools": [{**TOOL, "name": SURROGATE}]}, "tools[0].name"),
    ({"model": "scripted", "messages": [{"role": "user", "content": [
        {"type": "tool_result", "tool_use_id": "t", "content": ["x"]}]}]}, "messages[0].content[0].content[0]"),
    ({"model": "scripted", "messages": USER, "max_tokens": 5, "stop_sequences": ["x"]}, "max_tokens"),
])
async def test_count_tokens_mistakes_are_400(served: Any, body: dict[str, Any], field: str) -> None:
    _assert_names(await _post(served(), body, "/v1/messages/count_tokens"), field)


async def test_count_limits_refuse_huge_lists_fast(served: Any) -> None:
    app = served()
    start = time.monotonic()
    _assert_names(await _post(app, {**BASE, "stop_sequences": ["s"] * 200_000}), "stop_sequences")
    _assert_names(await _post(app, {**BASE, "messages": USER * 10_001}), "messages")
    _assert_names(await _post(app, {**BASE, "tools": [{**TOOL, "name": f"t{i}"} for i in range(513)]}), "tools")
    blocks = [{"type": "text", "text": "x"}] * 10_001
    _assert_names(await _post(app, {**BASE, "messages": [{"role": "user", "content": blocks}]}), "content")
    assert time.monotonic() - start < 60  # generous: the machine may be loaded; a freeze took minutes
    ok = await _post(app, {**BASE, "stop_sequences": ["s"] * 64, "messages": USER * 50})
    assert ok.status_code == 200, ok.text


BLOCK = st.one_of(
    st.fixed_dictionaries({"type": st.sampled_from(["text", "thinking", "tool_use", "tool_result", "image",
                                                    "document", "redacted_thinking", "nope"])},
                          optional={"text": st.one_of(st.text(max_size=5), st.integers()),
                                    "thinking": st.text(max_size=5), "signature": st.text(max_size=3),
                                    "id": st.text(max_size=3), "name": st.text(max_size=3),
                                    "input": st.one_of(st.dictionaries(st.text(max_size=2), st.integers(),
                                                                       max_size=2), st.text(max_size=2)),
                                    "tool_use_id": st.text(max_size=3),
                                    "content": st.one_of(st.text(max_size=3), st.lists(st.one_of(
                                        st.text(max_size=2), st.just({"type": "text", "text": "r"}),
                                        st.just({"type": "image"})), max_size=2)),
                                    "cache_control": st.one_of(st.just({"type": "ephemeral"}), st.integers()),
                                    "source": st.just({"type": "text", "media_type": "text/plain", "data": "d"})}),
    st.text(max_size=3), st.integers(), st.none())
MESSAGE = st.fixed_dictionaries({"role": st.sampled_from(["user", "assistant", "system", "tool", 3]),
                                 "content": st.one_of(st.text(max_size=5), st.lists(BLOCK, max_size=3),
                                                      st.integers())})
BODY = st.fixed_dictionaries(
    {"model": st.just("scripted"), "messages": st.lists(MESSAGE, max_size=4)},
    optional={"max_tokens": st.one_of(st.integers(-1, 50), st.text(max_size=2), st.booleans()),
              "system": st.one_of(st.text(max_size=5), st.lists(BLOCK, max_size=2)),
              "thinking": st.one_of(st.just({"type": "adaptive"}), st.just({"type": "disabled"}),
                                    st.fixed_dictionaries({"type": st.just("enabled"),
                                                           "budget_tokens": st.integers(-2, 60)})),
              "tool_choice": st.one_of(st.just({"type": "any"}), st.just({"type": "none"}),
                                       st.just({"type": "tool", "name": "get_weather"}), st.integers()),
              "tools": st.one_of(st.just([TOOL]), st.lists(st.dictionaries(st.text(max_size=4), st.text(max_size=2),
                                                                              max_size=2), max_size=2)),
              "context_management": st.one_of(st.just({"edits": [{"type": "clear_thinking_20251015"}]}),
                                              st.just({"edits": [{"type": "clear_tool_uses_20250919",
                                                                  "trigger": {"type": "tool_uses", "value": 0}}]}),
                                              st.just({"edits": "x"})),
              "stop_sequences": st.lists(st.text(max_size=3), max_size=3),
              "output_config": st.one_of(st.just({"effort": "low"}), st.just({"format": {"type": "json_schema",
                                                                                        "schema": {}}}))})


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(body=BODY)
def test_any_body_prepares_or_is_a_client_error(served: Any, body: dict[str, Any]) -> None:
    """Request preparation (the worker part) ends in a prompt or a 4xx: never another exception."""
    state = getattr(test_any_body_prepares_or_is_a_client_error, "_state", None)
    if state is None:
        state = served(tool_parser="json").state.lmstream
        test_any_body_prepares_or_is_a_client_error._state = state  # type: ignore[attr-defined]
    for prepare in (prepare_messages, prepare_count):
        try:
            prepare(state, body)
        except APIError as error:
            assert 400 <= error.status < 500, error.message


async def test_parsing_and_conversion_run_on_the_worker_pool(served: Any) -> None:
    """The request-sized work goes through ``state.work.run`` (admission-controlled, off the loop)."""
    app = served()
    work = app.state.lmstream.work
    calls: list[str] = []
    original = work.run

    async def counting(fn: Any, *args: Any, **kwargs: Any) -> Any:
        calls.append(fn.__name__)
        return await original(fn, *args, **kwargs)

    work.run = counting
    assert (await _post(app, BASE)).status_code == 200
    assert (await _post(app, {"model": "scripted", "messages": USER}, "/v1/messages/count_tokens")).status_code == 200
    _assert_names(await _post(app, {**BASE, "stop_sequences": ["s"] * 100_000}), "stop_sequences")
    assert [name for name in calls if name.startswith("prepare")] == [
        "prepare_messages", "prepare_count", "prepare_messages"]
