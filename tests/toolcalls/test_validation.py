"""Argument validation against the tools' JSON schemas, schema-typed text values, and ids."""

from __future__ import annotations

import re

import pytest
from toolcall_harness import TOOLS, run

import lmstream
from lmstream_toolcalls import coerce_value


def test_invalid_arguments_detail_names_the_field() -> None:
    events, _ = run("json", ['<tool_call>{"name": "get_weather", "arguments": '
                             '{"city": "Rome", "days": "two"}}</tool_call>'], TOOLS)
    (event,) = events
    assert event.reason == "invalid_arguments"
    assert "days" in event.detail and "integer" in event.detail
    assert event.text.startswith("<tool_call>")


def test_missing_required_argument() -> None:
    events, _ = run("json", ['<tool_call>{"name": "search", "arguments": {}}</tool_call>'], TOOLS)
    assert events[0].reason == "invalid_arguments" and "'q'" in events[0].detail


def test_arguments_must_be_an_object() -> None:
    events, _ = run("json", ['<tool_call>{"name": "search", "arguments": [1]}</tool_call>'])
    assert events[0].reason == "malformed" and "object" in events[0].detail


def test_an_invalid_schema_fails_when_the_parser_is_created() -> None:
    bad = [{"name": "f", "parameters": {"type": "object", "properties": {"x": {"type": 12}}}}]
    with pytest.raises(ValueError, match=r"parameters\.properties\.x\.type must be a type name"):
        lmstream.get_tool_parser("json", bad)  # ToolSpec refuses it
    bad = [{"name": "f", "parameters": {"type": "object", "required": 5}}]
    with pytest.raises(ValueError, match="'f' has an invalid parameters schema"):
        lmstream.get_tool_parser("json", bad)  # jsonschema refuses it


@pytest.mark.parametrize(("raw", "schema", "value"), [
    ("3", {"type": "integer"}, 3),
    ("2.5", {"type": "number"}, 2.5),
    ("4", {"type": "number"}, 4),
    ("true", {"type": "boolean"}, True),
    ("False", {"type": "boolean"}, False),
    ("null", {"type": ["string", "null"]}, None),
    ("null", {"type": "string"}, "null"),
    (' {"a": [1]} ', {"type": "object"}, {"a": [1]}),
    ("['x', 'y']", {"type": "array"}, ["x", "y"]),
    ("7", {"anyOf": [{"type": "integer"}, {"type": "string"}]}, 7),
    ("b", {"enum": ["a", "b"]}, "b"),
    ("2", {"enum": [1, 2]}, 2),
    (" padded ", {"type": "string"}, " padded "),
    ("soon", {"type": "integer"}, "soon"),
    ("3", None, "3"),
    ("inf", {"type": "number"}, "inf"),
])
def test_coerce_value(raw: str, schema: dict | None, value: object) -> None:
    assert coerce_value(raw, schema) == value


def test_generated_ids_are_unique_and_openai_shaped() -> None:
    text = '<tool_call>{"name": "f", "arguments": {}}</tool_call>' * 50
    ids = [e.id for e in lmstream.get_tool_parser("json").feed(text)]
    assert len(set(ids)) == 50
    assert all(re.fullmatch(r"call_[0-9a-f]{24}", i) for i in ids)


def test_model_ids_are_used_where_the_format_carries_one() -> None:
    events, parser = run("json", ['<tool_call>{"name": "f", "arguments": {}, "id": "own-1"}'
                                  "</tool_call>"])
    assert events[0].id == "own-1"
    assert parser.call_text["own-1"].endswith("</tool_call>")


def test_openai_shaped_call_objects_are_understood() -> None:
    events, _ = run("json", ['<tool_call>{"type": "function", "id": "c1", "function": '
                             '{"name": "f", "arguments": "{\\"x\\": 1}"}}</tool_call>'])
    assert (events[0].id, events[0].name, events[0].arguments) == ("c1", "f", {"x": 1})
