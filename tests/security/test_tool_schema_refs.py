"""Tool schemas are untrusted: no reference is ever fetched, bad local ones fail at creation."""

from __future__ import annotations

from typing import Any

import pytest

import lmstream
from lmstream.hooks import get_tool_parser

REMOTE_REFS = [
    {"$ref": "http://127.0.0.1:9/schema.json"},
    {"$ref": "https://example.invalid/x"},
    {"$ref": "file:///etc/passwd"},
    {"type": "object", "properties": {"a": {"$ref": "other.json#/x"}}},
    {"$dynamicRef": "http://127.0.0.1:9/d"},
    {"properties": {"a": {"$id": "http://127.0.0.1:9/", "$ref": "x.json"}}},
]

BROKEN_LOCAL_REFS = [
    {"$ref": "#"},
    {"$ref": "#/$defs/missing"},
    {"$ref": "#nowhere"},
    {"allOf": [{"$ref": "#"}]},
    {"anyOf": [{"type": "string"}, {"not": {"$ref": "#"}}]},
    {"$defs": {"a": {"$ref": "#/$defs/b"}, "b": {"$ref": "#/$defs/a"}},
     "properties": {"x": {"$ref": "#/$defs/a"}}},
]


def tools(schema: dict[str, Any]) -> list[dict[str, Any]]:
    return [{"name": "f", "parameters": schema}]


@pytest.mark.parametrize("schema", REMOTE_REFS + BROKEN_LOCAL_REFS)
def test_bad_references_are_refused_at_creation(schema: dict[str, Any]) -> None:
    with pytest.raises(ValueError, match="tool 'f' has an invalid parameters schema"):
        get_tool_parser("json", tools=tools(schema))


def test_remote_ref_is_never_fetched_even_if_validation_is_reached(no_network: Any) -> None:
    """The validator itself refuses retrieval: even a schema compiled past the creation check
    (here straight through jsonschema's API with our registry) never opens a connection."""
    from lmstream_toolcalls.schemas import compile_schema

    with pytest.raises(ValueError, match="not a local reference"):
        compile_schema('{"$ref": "http://127.0.0.1:9/x"}')
    assert no_network.attempts == []


def test_stream_with_remote_ref_fails_before_any_work() -> None:
    context = lmstream.load(backend="scripted", reply='<tool_call>{"name": "f", "arguments": '
                            '{"a": 1}}</tool_call>')
    try:
        user_input = lmstream.UserInput(prompt="hi", tools=tools(REMOTE_REFS[0]))
        with pytest.raises(ValueError, match="not a local reference"):
            lmstream.generate(user_input, context=context, parameters={"tool_parser": "json"})
    finally:
        context.close()


def test_recursive_local_schema_still_validates() -> None:
    tree = {"type": "object", "properties": {"t": {"$ref": "#/$defs/node"}},
            "$defs": {"node": {"type": "object", "properties": {
                "kids": {"type": "array", "items": {"$ref": "#/$defs/node"}}}}}}
    parser = get_tool_parser("json", tools=tools(tree))
    assert parser.tools.check("f", {"t": {"kids": [{"kids": []}]}}) is None
    reason = parser.tools.check("f", {"t": {"kids": [1]}})
    assert reason is not None and "kids/0" in reason[1]


def test_deep_schema_and_deep_arguments_are_clear_errors() -> None:
    deep: dict[str, Any] = {"type": "object"}
    for _ in range(5000):
        deep = {"anyOf": [deep]}
    with pytest.raises(ValueError, match="nests deeper than"):
        get_tool_parser("json", tools=tools(deep))
    parser = get_tool_parser("json", tools=tools({"type": "object"}))
    args: Any = 1
    for _ in range(100_000):
        args = [args]
    outcome = parser.tools.check("f", {"a": args})
    assert outcome is None or outcome[0] == "invalid_arguments"
