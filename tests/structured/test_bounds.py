"""Untrusted schemas, regexes and grammars are bounded before any engine or ``jsonschema`` sees
them: a ValueError naming the limit and the field at ``GenerationParameters`` creation (the
server's 400), real-sized specs still pass, and each schema is checked once per request."""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import jsonschema
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from lmstream import GenerationParameters, ToolSpec
from lmstream.protocol import (
    DEFAULT_LIMITS,
    StructuredLimits,
    check_grammar_bounds,
    check_schema_bounds,
    set_structured_limits,
)


def fmt(schema: Any) -> dict[str, Any]:
    return {"type": "json_schema", "json_schema": {"name": "x", "schema": schema}}


def ref_chain(n: int, link: str = "object") -> dict[str, Any]:
    """``$defs`` d0 -> d1 -> ... -> dn (the shape that overflowed llguidance 1.9's stack)."""
    def step(i: int) -> dict[str, Any]:
        ref = {"$ref": f"#/$defs/d{i + 1}"}
        return {"type": "object", "properties": {"x": ref}} if link == "object" else ref
    defs: dict[str, Any] = {f"d{i}": step(i) for i in range(n)}
    defs[f"d{n}"] = {"type": "string"}
    return {"$defs": defs, "$ref": "#/$defs/d0"}


def lark_chain(n: int) -> str:
    return "\n".join([f"r{i}: r{i + 1}" for i in range(n)] + [f'r{n}: "a"', "start: r0"])


def nested(n: int) -> dict[str, Any]:
    schema: dict[str, Any] = {"type": "string"}
    for _ in range(n):
        schema = {"type": "array", "items": schema}
    return schema


@pytest.fixture
def limits() -> Iterator[None]:
    """Restores the process-wide limits after a test changes them."""
    previous = set_structured_limits(DEFAULT_LIMITS)
    try:
        yield
    finally:
        set_structured_limits(previous)


def refused(response_format: Any) -> str:
    with pytest.raises(ValidationError) as caught:
        GenerationParameters(response_format=response_format)
    assert caught.value.errors()[0]["loc"] == ("response_format",)
    return str(caught.value)


@pytest.mark.parametrize(("spec", "limit"), [
    (fmt(ref_chain(2000)), "max_properties"),
    (fmt(ref_chain(400)), "max_ref_depth"),
    (fmt(ref_chain(1500, link="ref")), "max_ref_depth"),
    (fmt(nested(200)), "max_depth"),
    (fmt({"type": "object", "properties": {f"p{i}": {"type": "string"} for i in range(100_000)}}), "max_bytes"),
    (fmt({"type": "object", "properties": {f"p{i}": {"type": "string"} for i in range(3000)}}), "max_properties"),
    (fmt({"anyOf": [{"const": i} for i in range(3000)]}), "max_alternatives"),
    (fmt({"oneOf": [{"const": i} for i in range(3000)]}), "max_alternatives"),
    (fmt({"enum": list(range(10_000))}), "max_enum_values"),
    ({"type": "grammar", "lark": lark_chain(3000)}, "max_grammar_rules"),
    ({"type": "grammar", "lark": "start: " + "(" * 300 + '"a"' + ")" * 300}, "max_depth"),
    ({"type": "grammar", "lark": "start: /" + "(" * 300 + "a" + ")" * 300 + "/"}, "max_depth"),
    ({"type": "grammar", "lark": "start: %json " + str(ref_chain(400)).replace("'", '"')}, "max_ref_depth"),
    ({"type": "regex", "pattern": "(" * 300 + "a" + ")" * 300}, "max_depth"),
    (fmt({"type": "string", "pattern": "(" * 5000 + "a" + ")" * 5000}), "max_depth"),
    (fmt({"type": "object", "patternProperties": {"(" * 300 + "a" + ")" * 300: {}}}), "max_depth"),
    ({"type": "regex", "pattern": "a" * (2 << 20)}, "max_bytes"),
])
def test_oversized_specs_are_refused_naming_the_limit_and_field(spec: dict[str, Any], limit: str) -> None:
    started = time.perf_counter()
    message = refused(spec)
    assert f"StructuredLimits.{limit}" in message, message
    assert "response_format." in message
    assert time.perf_counter() - started < 10  # bounded work, far under a second unloaded


@pytest.mark.parametrize("spec", [
    fmt({"type": "object", "properties": {f"p{i}": {"type": "string", "description": "d" * 60}
                                          for i in range(500)}, "required": [f"p{i}" for i in range(500)]}),
    fmt(ref_chain(100)),
    fmt({"type": "object", "properties": {"kids": {"type": "array", "items": {"$ref": "#"}}},
         "required": ["kids"]}),
    fmt({"$defs": {"node": {"type": "object", "properties": {"next": {"anyOf": [{"$ref": "#/$defs/node"},
                                                                                {"type": "null"}]}},
                            "required": ["next"]}}, "$ref": "#/$defs/node"}),
    fmt({"enum": [f"zone/{i}" for i in range(600)]}),
    {"type": "grammar", "lark": lark_chain(1000)},
    {"type": "grammar", "lark": "\n".join([f'r{i}: "x{i}" | "(" r{i} ")"' for i in range(1000)])
     + "\nstart: " + " | ".join(f"r{i}" for i in range(0, 1000, 50))},
    {"type": "grammar", "lark": 'start: "((((((((((" /[a-z]+/ "]]]]]]]]]]" # (((((((((((\n'},
])
def test_real_sized_specs_pass(spec: dict[str, Any]) -> None:
    assert GenerationParameters(response_format=spec).response_format is not None


def test_grammar_depth_is_counted_per_definition() -> None:
    # each rule leaves a group open (a syntax error for the engine to report): depth 1, not 100
    check_grammar_bounds("\n".join(f'r{i}: "x" (r{i + 1}' for i in range(100)) + '\nr100: "y"\nstart: r0', "g")


@pytest.mark.parametrize("schema", [
    {"$ref": "#"},
    {"$defs": {"a": {"$ref": "#/$defs/b"}, "b": {"$ref": "#/$defs/a"}}, "$ref": "#/$defs/a"},
    {"type": "object", "properties": {"me": {"$ref": "#"}}, "required": ["me"]},
    {"allOf": [{"$ref": "#"}]},
    {"anyOf": [{"$ref": "#"}, {"$ref": "#/anyOf/0"}]},
    {"type": "array", "items": {"$ref": "#"}, "minItems": 1},
    {"type": "object", "properties": {"x": {"enum": []}}, "required": ["x"]},
    {"type": "object", "properties": {"x": False}, "required": ["x"]},
])
def test_schemas_no_finite_value_satisfies_are_refused_at_creation(schema: Any) -> None:
    assert "cannot be satisfied" in refused(fmt(schema))


def test_oversized_tool_schemas_are_refused_at_creation() -> None:
    with pytest.raises(ValidationError, match=r"StructuredLimits\.max_ref_depth"):
        ToolSpec(name="t", parameters=ref_chain(400))


def test_limits_are_named_options(limits: None) -> None:
    assert DEFAULT_LIMITS.max_properties >= 500 and DEFAULT_LIMITS.max_grammar_rules >= 1000
    schema = fmt({"type": "object", "properties": {f"p{i}": {"type": "string"} for i in range(20)}})
    GenerationParameters(response_format=schema)
    set_structured_limits(StructuredLimits(max_properties=10))
    assert "StructuredLimits.max_properties = 10" in refused(schema)
    with pytest.raises(ValueError, match=r"(?s)max_depth.*greater than or equal to 1"):
        StructuredLimits(max_depth=0)
    for bad in (True, 1.5, "8"):
        with pytest.raises(ValueError, match="max_bytes"):
            StructuredLimits(max_bytes=bad)  # type: ignore[arg-type]


def test_bounds_come_before_the_metaschema_check(monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[Any] = []
    real = jsonschema.validators.validator_for
    monkeypatch.setattr(jsonschema.validators, "validator_for", lambda s, *a, **k: calls.append(s) or real(s, *a, **k))
    refused(fmt({"type": "object", "properties": {f"p{i}": {"type": "string"} for i in range(100_000)}}))
    assert calls == []


def test_with_overrides_does_not_check_the_schema_again(monkeypatch: pytest.MonkeyPatch) -> None:
    params = GenerationParameters(response_format=fmt(ref_chain(50)), seed=1)
    calls: list[Any] = []
    real = jsonschema.validators.validator_for
    monkeypatch.setattr(jsonschema.validators, "validator_for", lambda s, *a, **k: calls.append(s) or real(s, *a, **k))
    copies = [params.with_overrides(seed=i) for i in range(8)]
    assert calls == [] and all(c.response_format == params.response_format for c in copies)
    assert copies[3].seed == 3
    with pytest.raises(ValidationError, match="cannot be satisfied"):  # a new one is checked
        params.with_overrides(response_format=fmt({"$ref": "#"}))
    assert params.with_overrides(response_format=fmt({"type": "integer"})).response_format == fmt({"type": "integer"})
    assert {"type": "integer"} in calls and params.response_format["json_schema"]["schema"] not in calls


JSON = st.recursive(st.none() | st.booleans() | st.integers() | st.text(max_size=5),
                    lambda inner: st.lists(inner, max_size=4)
                    | st.dictionaries(st.sampled_from(["$ref", "type", "properties", "anyOf", "items", "required",
                                                       "$defs", "allOf", "enum", "minItems", "a", "#"]),
                                      inner, max_size=4), max_leaves=30)


@settings(max_examples=200, deadline=None)
@given(JSON, st.sampled_from(["#", "#/", "#/$defs/a", "#/properties/a", "#/anyOf/0", "#/items", "x#"]))
def test_any_json_value_gets_a_verdict_or_a_value_error(value: Any, ref: str) -> None:
    for schema in (value, {"$ref": ref, "$defs": {"a": value}, "properties": {"a": value}, "anyOf": [value]}):
        try:
            check_schema_bounds(schema, "s")
        except ValueError as exc:
            assert str(exc).startswith("s")


@settings(max_examples=200, deadline=None)
@given(st.text(alphabet='ab:?|()[]{}/"\\\n #%json{}', max_size=80))
def test_any_grammar_text_gets_a_verdict_or_a_value_error(text: str) -> None:
    try:
        check_grammar_bounds(text, "g")
    except ValueError as exc:
        assert str(exc).startswith("g") or "%json" in str(exc)
