"""response_format / tool_choice: accepted shapes, errors that name the field, JSON dumps."""

from __future__ import annotations

import dataclasses
import json

import pytest
from pydantic import BaseModel, ValidationError

from lmstream import GenerationParameters, ToolSpec
from lmstream.protocol import constraint_spec, parse_response


class Person(BaseModel):
    name: str
    age: int


@dataclasses.dataclass
class Point:
    x: int
    y: int


SCHEMA = {"type": "object", "properties": {"a": {"type": "integer"}}, "required": ["a"]}


@pytest.mark.parametrize("fmt", [
    {"type": "text"},
    {"type": "json_object"},
    {"type": "json_schema", "json_schema": {"name": "x", "schema": SCHEMA, "strict": True}},
    {"type": "regex", "pattern": "[0-9]+"},
    {"type": "grammar", "lark": 'start: "a"+'},
])
def test_openai_and_extra_shapes_are_accepted(fmt: dict[str, object]) -> None:
    assert GenerationParameters(response_format=fmt).response_format == fmt


@pytest.mark.parametrize(("fmt", "message"), [
    ({"type": "yaml"}, "response_format.type must be one of"),
    ({"type": "json_schema"}, "response_format.json_schema must be"),
    ({"type": "json_schema", "json_schema": {"schema": {"type": "nope"}}},
     "response_format.json_schema.schema is not a valid JSON schema"),
    ({"type": "json_schema", "json_schema": {"schema": {"properties": {"a": {"minimum": "x"}}}}},
     "at properties/a/minimum"),
    ({"type": "regex", "pattern": ""}, "response_format.pattern"),
    ({"type": "grammar", "lark": " "}, "response_format.lark"),
    ({"type": "regex", "pattern": "a", "lark": "b"}, "unknown keys"),
    ("json", "response_format must be a dict"),
])
def test_bad_shapes_raise_naming_the_field(fmt: object, message: str) -> None:
    with pytest.raises(ValidationError) as info:
        GenerationParameters(response_format=fmt)
    assert "response_format" in str(info.value)
    assert message in str(info.value)


def test_classes_are_kept_and_dump_as_their_json_schema() -> None:
    params = GenerationParameters(response_format=Person)
    assert params.response_format is Person
    assert params.with_overrides(max_tokens=5).response_format is Person
    dumped = json.loads(params.model_dump_json())["response_format"]
    assert dumped["type"] == "json_schema"
    assert dumped["json_schema"]["schema"]["required"] == ["name", "age"]
    spec = constraint_spec(Point, None, None, None)
    assert spec is not None and spec.schema is not None
    assert spec.schema["properties"]["x"]["type"] == "integer"


def test_parse_response_builds_the_object_or_raises() -> None:
    assert parse_response(Person, '{"name": "Ann", "age": 3}') == Person(name="Ann", age=3)
    assert parse_response(Point, '{"x": 1, "y": 2}') == Point(1, 2)
    assert parse_response({"type": "json_object"}, '{"a": [1]}') == {"a": [1]}
    assert parse_response({"type": "regex", "pattern": "a"}, "a") is None
    with pytest.raises(ValueError, match="does not validate as Person"):
        parse_response(Person, '{"name": "Ann"}')
    with pytest.raises(ValueError, match="not JSON"):
        parse_response({"type": "json_object"}, "{")


@pytest.mark.parametrize("choice", ["auto", "none", "required", None])
def test_tool_choice_keywords(choice: str | None) -> None:
    assert GenerationParameters(tool_choice=choice).tool_choice == choice


def test_tool_choice_named_function_is_normalized() -> None:
    named = {"type": "function", "function": {"name": "f"}}
    assert GenerationParameters(tool_choice=named).tool_choice == named
    assert GenerationParameters(tool_choice={"type": "function", "name": "f"}).tool_choice == named
    for bad in ("always", {"type": "function"}, {"function": {"name": "f"}}):
        with pytest.raises(ValidationError, match="tool_choice"):
            GenerationParameters(tool_choice=bad)


def test_constraint_spec_rules() -> None:
    tools = [ToolSpec(name="f", parameters=SCHEMA), ToolSpec(name="g")]
    assert constraint_spec(None, "auto", tools, "json") is None
    assert constraint_spec({"type": "text"}, None, None, None) is None
    assert constraint_spec({"type": "json_object"}, None, None, None).schema == {"type": "object"}  # type: ignore[union-attr]
    spec = constraint_spec(None, {"type": "function", "function": {"name": "g"}}, tools, "json")
    assert spec is not None and [t.name for t in spec.tools] == ["g"]
    assert spec.kind == "tool_call" and spec.tool_format == "json"
    with pytest.raises(ValueError, match="needs tools"):
        constraint_spec(None, "required", None, "json")
    with pytest.raises(ValueError, match="not among the tools"):
        constraint_spec(None, {"type": "function", "function": {"name": "h"}}, tools, "json")
    with pytest.raises(ValueError, match="needs a tool-call format"):
        constraint_spec(None, "required", tools, None)
    with pytest.raises(ValueError, match="cannot be combined"):
        constraint_spec({"type": "json_object"}, "required", tools, "json")
