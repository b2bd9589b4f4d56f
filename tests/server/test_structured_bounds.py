"""Hostile structured-output specs through the server: each is a 400 naming the field and the
limit (never a crash or a 500), the server then serves a polite request; a required tool call
with a tool schema using local ``$defs`` refs works on the OpenAI and Anthropic APIs."""

from __future__ import annotations

import json
from typing import Any

import pytest

from .conftest import anthropic_client, http_client, openai_client

pytest.importorskip("llguidance")

USER = [{"role": "user", "content": "Where?"}]


def chain(n: int) -> dict[str, Any]:
    defs: dict[str, Any] = {f"d{i}": {"type": "object", "properties": {"x": {"$ref": f"#/$defs/d{i + 1}"}}}
                            for i in range(n)}
    defs[f"d{n}"] = {"type": "string"}
    return {"$defs": defs, "$ref": "#/$defs/d0"}


def schema_format(schema: Any) -> dict[str, Any]:
    return {"type": "json_schema", "json_schema": {"name": "x", "schema": schema}}


HOSTILE = [
    (schema_format(chain(2000)), "StructuredLimits.max_properties"),
    (schema_format(chain(600)), "StructuredLimits.max_ref_depth"),
    (schema_format({"type": "object", "properties": {f"p{i}": {"type": "string"} for i in range(100_000)}}),
     "StructuredLimits.max_bytes"),
    (schema_format({"anyOf": [{"const": i} for i in range(3000)]}), "StructuredLimits.max_alternatives"),
    (schema_format({"$ref": "#"}), "cannot be satisfied"),
]


@pytest.mark.parametrize(("fmt", "named"), HOSTILE, ids=["defs-2000", "chain-600", "props-100k", "anyof-3000",
                                                         "ref-root"])
async def test_hostile_schemas_are_400s_naming_field_and_limit(served: Any, fmt: dict[str, Any], named: str) -> None:
    app = served('{"city": "Paris"}')
    async with http_client(app) as client:
        response = await client.post("/v1/chat/completions", json={
            "model": "scripted", "messages": USER, "response_format": fmt})
        assert response.status_code == 400, response.text
        error = response.json()["error"]
        assert error["param"].startswith("response_format") and named in error["message"], error
        polite = await client.post("/v1/chat/completions", json={"model": "scripted", "messages": USER})
        assert polite.status_code == 200


DEFS_TOOL = {"type": "function", "function": {"name": "set_place", "parameters": {
    "type": "object", "required": ["place"], "additionalProperties": False,
    "$defs": {"s": {"type": "string", "maxLength": 20}}, "properties": {"place": {"$ref": "#/$defs/s"}}}}}
CALL = '<tool_call>\n{"name": "set_place", "arguments": {"place": "Paris"}}\n</tool_call>'


async def test_required_tool_with_local_defs_refs_on_openai(served: Any) -> None:
    client = openai_client(served(CALL, tool_parser="json"))
    answer = await client.chat.completions.create(model="scripted", messages=USER, tools=[DEFS_TOOL],
                                                  tool_choice="required")
    calls = answer.choices[0].message.tool_calls
    assert calls and calls[0].function.name == "set_place"
    assert json.loads(calls[0].function.arguments) == {"place": "Paris"}


async def test_any_tool_with_local_defs_refs_on_anthropic(served: Any) -> None:
    client = anthropic_client(served(CALL, tool_parser="json"))
    function = DEFS_TOOL["function"]
    answer = await client.messages.create(
        model="scripted", max_tokens=100, messages=USER, tool_choice={"type": "any"},
        tools=[{"name": function["name"], "input_schema": function["parameters"]}])
    uses = [block for block in answer.content if block.type == "tool_use"]
    assert [(u.name, u.input) for u in uses] == [("set_place", {"place": "Paris"})]
