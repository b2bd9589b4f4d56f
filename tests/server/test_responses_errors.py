"""/v1/responses: every client mistake is a 400 (or 404) naming the field, never a 500,
streamed or not; a failure after the stream started ends with error + response.failed."""

from __future__ import annotations

import json
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import lmstream
from lmstream_server import create_app

from .conftest import http_client, sse_events

LONE = "\ud800"
CALL = {"type": "function_call", "call_id": "c1", "name": "f", "arguments": "{}"}
FUNCTION = {"type": "function", "name": "f", "parameters": {"type": "object", "properties": {}}}


async def _post(app: Any, body: dict[str, Any]) -> Any:
    raw = json.dumps({"model": "scripted", **body}).encode()  # json.dumps escapes lone surrogates
    async with http_client(app) as http:
        return await http.post("/v1/responses", content=raw, headers={"content-type": "application/json"})


CASES: list[tuple[dict[str, Any], str]] = [
    ({"input": "a" + LONE}, "input"),
    ({"input": [{"role": "user", "content": [{"type": "input_text", "text": LONE}]}]}, "input[0].content[0].text"),
    ({"input": "x", "instructions": LONE}, "instructions"),
    ({"input": "x", "metadata": {"k": LONE}}, "metadata.k"),
    ({"input": "x", "metadata": {LONE: "v"}}, "metadata"),
    ({"input": "x", "tools": [{**FUNCTION, "description": LONE}]}, "tools[0].description"),
    ({"input": [{"role": "user", "content": "x"}, {**CALL, "arguments": {"a": 1}}]}, "input[1].arguments"),
    ({"input": [{"role": "user", "content": "x"}, {**CALL, "arguments": None}]}, "input[1].arguments"),
    ({"input": [{"role": "user", "content": "x"}, {**CALL, "call_id": 5}]}, "input[1].call_id"),
    ({"input": [{"type": "function_call_output", "call_id": "c1", "output": 3}]}, "input[0].output"),
    ({"input": [{"type": "banana"}]}, "input[0].type"),
    ({"input": [{"type": 7}]}, "input[0].type"),
    ({"input": ["text"]}, "input[0]"),
    ({"input": [{"role": "robot", "content": "x"}]}, "input[0].role"),
    ({"input": [{"role": "user", "content": [{"type": "input_image", "image_url": "x"}]}]},
     "input[0].content[0].type"),
    ({"input": [{"role": "user", "content": "x", "colour": "red"}]}, "input[0].colour"),
    ({"input": [{"type": "reasoning", "summary": [], "encrypted_content": 5}]}, "input[0].encrypted_content"),
    ({"input": [{"type": "additional_tools", "tools": [{"type": "nope"}]}]}, "input[0].tools[0].type"),
    ({"input": "x", "stream": "true"}, "stream"),
    ({"input": "x", "max_output_tokens": 5.0}, "max_output_tokens"),
    ({"input": "x", "temperature": True}, "temperature"),
    ({"input": "x", "include": ["file_search_call.results"]}, "include[0]"),
    ({"input": "x", "truncation": "middle"}, "truncation"),
    ({"input": "x", "reasoning": {"effort": "extreme"}}, "reasoning.effort"),
    ({"input": "x", "text": {"format": {"type": "json_schema", "name": "n"}}}, "text.format.schema"),
    ({"input": "x", "text": {"format": {"type": "yaml"}}}, "text.format.type"),
    ({"input": "x", "text": {"verbosity": "loud"}}, "text.verbosity"),
    ({"input": "x", "metadata": {f"k{i}": "v" for i in range(17)}}, "metadata"),
    ({"input": "x", "tools": [{"type": "custom", "name": "c", "format": {"type": "grammar", "syntax": "ebnf",
                                                                       "definition": "x"}}]},
     "tools[0].format.syntax"),
    ({"input": "x", "tools": [{"type": "namespace", "name": "n", "tools": [{"type": "web_search"}]}]},
     "tools[0].tools[0].type"),
    ({"input": "x", "tools": [FUNCTION, FUNCTION]}, "tools[1].name"),
    ({"input": "x", "tools": [FUNCTION], "tool_choice": {"type": "function", "name": "g"}}, "tool_choice.name"),
    ({"input": "x", "tools": [FUNCTION], "tool_choice": {"type": "web_search"}}, "tool_choice.type"),
    ({"input": "x", "background": True}, "background"),
    ({"input": ""}, "input"),
    ({}, "input"),
]


@pytest.mark.parametrize("stream", [False, True])
@pytest.mark.parametrize(("body", "param"), CASES, ids=[c[1] + f"#{i}" for i, c in enumerate(CASES)])
async def test_client_mistakes_are_400_naming_the_field(served: Any, body: dict[str, Any], param: str,
                                                        stream: bool) -> None:
    if stream and "stream" not in body:
        body = {**body, "stream": True}
    response = await _post(served("ok", tool_parser="json"), body)
    assert response.status_code == 400, response.text
    error = response.json()["error"]
    assert error["param"] == param, error
    assert error["message"] and error["type"] == "invalid_request_error"


async def test_count_limits_on_input_items_and_tools(served: Any) -> None:
    app = served("ok", tool_parser="json")
    items = [{"role": "user", "content": "x"}] * 10_001
    response = await _post(app, {"input": items})
    assert response.status_code == 400 and response.json()["error"]["param"] == "input"
    assert response.json()["error"]["code"] == "too_many_items"
    parts = [{"type": "input_text", "text": "x"}] * 10_001
    response = await _post(app, {"input": [{"role": "user", "content": parts}]})
    assert response.status_code == 400 and response.json()["error"]["param"] == "input[0].content"
    tools = [{**FUNCTION, "name": f"f{i}"} for i in range(513)]
    response = await _post(app, {"input": "x", "tools": tools})
    assert response.status_code == 400 and response.json()["error"]["param"] == "tools"
    spaces = [{"type": "namespace", "name": f"n{j}", "tools": [{**FUNCTION, "name": f"f{i}"} for i in range(200)]}
              for j in range(3)]
    response = await _post(app, {"input": "x", "tools": spaces})
    assert response.status_code == 400 and response.json()["error"]["code"] == "too_many_items"


async def test_failure_after_the_stream_started_ends_with_response_failed(served: Any) -> None:
    app = served("abcdefgh", fail_at=3)
    response = await _post(app, {"input": "x", "stream": True})
    events = sse_events(response.content)
    names = [name for name, _ in events]
    assert names[-2:] == ["error", "response.failed"] and "response.completed" not in names
    failed = json.loads(events[-1][1])["response"]
    assert failed["status"] == "failed" and "scripted failure" in failed["error"]["message"]
    plain = await _post(app, {"input": "x"})
    assert plain.status_code == 500 and plain.json()["error"]["code"] == "generation_failed"


def test_closing_events_end_a_cut_stream_once() -> None:
    from lmstream_server.responses_output import ResponseBuilder

    builder = ResponseBuilder("m", {}, encrypted_reasoning=False)
    builder.text("partial", "content")
    closing = builder.closing_events("the server is shutting down")
    names = [name for name, _ in sse_events(closing)]
    assert names == ["response.output_text.done", "response.content_part.done", "response.output_item.done",
                     "error", "response.failed"]
    assert builder.closing_events("again") == b""


JSON = st.recursive(st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=8),
                    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner,
                                                                                max_size=3), max_leaves=12)
ITEM_TYPES = st.sampled_from(["message", "function_call", "function_call_output", "custom_tool_call",
                              "custom_tool_call_output", "reasoning", "additional_tools", "web_search_call",
                              "item_reference", "x"])
FIELDS = st.sampled_from(["role", "content", "call_id", "name", "arguments", "input", "output", "summary",
                          "encrypted_content", "tools", "namespace", "id", "status", "text"])
ITEMS = st.lists(st.builds(lambda kind, extra: {"type": kind, **extra}, ITEM_TYPES,
                           st.dictionaries(FIELDS, JSON, max_size=4)), max_size=4)
TOOLS = st.lists(st.dictionaries(st.sampled_from(["type", "name", "parameters", "format", "tools", "description"]),
                                 JSON | st.sampled_from(["function", "custom", "namespace", "web_search"]),
                                 max_size=4), max_size=3)
BODIES = st.fixed_dictionaries({"input": ITEMS | st.text(max_size=5)}, optional={
    "tools": TOOLS, "tool_choice": JSON | st.sampled_from(["auto", "required", "none"]), "text": JSON,
    "reasoning": JSON, "include": JSON, "stream": st.booleans(), "store": JSON, "metadata": JSON,
    "previous_response_id": JSON, "max_tool_calls": JSON, "truncation": JSON})


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(body=BODIES)
def test_random_bodies_never_fail_the_server(body: dict[str, Any]) -> None:
    import asyncio

    async def run() -> None:
        response = await _post(APP, body)
        assert response.status_code in (200, 400, 404), response.text
        if response.status_code != 200:
            error = response.json()["error"]
            assert error["message"] and (error["param"] is None or isinstance(error["param"], str))
        elif body.get("stream") is True:
            assert [name for name, _ in sse_events(response.content)][-1] in (
                "response.completed", "response.incomplete")

    asyncio.run(run())


APP = create_app(lmstream.load(backend="scripted", reply="ok", tool_parser="json"))


def _chain(rules: int) -> str:
    return "\n".join(["start: r0", *(f'r{i}: "a" r{i + 1}' for i in range(rules)), f'r{rules}: "b"'])


def _custom(definition: str, syntax: str = "lark") -> dict[str, Any]:
    return {"type": "custom", "name": "c", "format": {"type": "grammar", "syntax": syntax, "definition": definition}}


@pytest.mark.parametrize(("tool", "code"), [
    (_custom(_chain(3_000)), "grammar_too_large"),  # a chain this long crashes llguidance 1.x
    (_custom("start: " + " | ".join(f'"{i}"' for i in range(20_000))), "grammar_too_large"),
    (_custom("start: undefined_rule"), "invalid_grammar"),
    (_custom("(unclosed", "regex"), "invalid_grammar"),
])
async def test_custom_tool_grammars_are_bounded_and_checked_first(served: Any, tool: dict[str, Any],
                                                                  code: str) -> None:
    pytest.importorskip("llguidance")
    for body in ({"input": "x", "tools": [tool]},
                 {"input": [{"type": "additional_tools", "tools": [{"type": "namespace", "name": "n",
                                                                      "tools": [tool]}]}]}):
        response = await _post(served("ok", tool_parser="json"), body)
        assert response.status_code == 400, response.text
        error = response.json()["error"]
        assert error["code"] == code and error["param"].endswith("tools[0].format.definition"), error


async def test_a_thousand_rule_grammar_still_works(served: Any) -> None:
    pytest.importorskip("llguidance")
    # the tool's grammar is shown to the model in the prompt: give the context room for it
    response = await _post(served("a" * 1_000 + "b", context_length=65_536),
                           {"input": "x", "tools": [_custom(_chain(998))],
                                                      "tool_choice": "required", "max_output_tokens": 2_000})
    assert response.status_code == 200, response.text
    assert response.json()["output"][0]["input"] == "a" * 998 + "b"
