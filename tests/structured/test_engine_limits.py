"""The llguidance engine under ``EngineLimits``: its parser limits are set, a grammar too complex
or unsatisfiable fails at creation, a mask that exceeds a limit while generating ends only its
own stream (batch neighbours finish), numbers cannot run away, and tool schemas with local
``$defs`` refs work under a required tool_choice."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import jsonschema
import pytest

import lmstream
from lmstream import Chunk, Info

llguidance = pytest.importorskip("llguidance")

from lmstream_structured.engine import LLGuidanceEngine  # noqa: E402
from lmstream_structured.limits import EngineLimits  # noqa: E402

Scripted = Callable[..., lmstream.ModelContext]
AMBIGUOUS = 'start: a\na: "x" | ' + " | ".join(" ".join(["a"] * k) for k in range(2, 7))
"""An ambiguous grammar: its Earley rows grow with every token (a mask gets slower and slower)."""


def with_engine(ctx: lmstream.ModelContext, limits: EngineLimits) -> str:
    """Register an engine with ``limits`` (a fresh name: registries keep the first owner)."""
    name = f"limited-{id(limits)}"
    assert ctx.plugin_system.constraint_engines.register(name, LLGuidanceEngine(limits), owner="test")
    return name


def test_limits_are_named_and_reach_llguidance() -> None:
    limits = EngineLimits(max_items_in_row=123, step_lexer_fuel=4567)
    parser = limits.parser_limits(llguidance)
    assert (parser.max_items_in_row, parser.step_lexer_fuel, parser.verbose_errors) == (123, 4567, False)
    assert EngineLimits().max_items_in_row >= 2100  # a 500-property open object fits
    with pytest.raises(ValueError, match=r"EngineLimits\.max_mask_seconds must be a positive number"):
        EngineLimits(max_mask_seconds=0)


def test_a_grammar_over_a_limit_is_refused_at_creation_naming_it(scripted: Scripted,
                                                                 plugin_system: lmstream.PluginSystem) -> None:
    ctx = scripted()
    name = with_engine(ctx, EngineLimits(max_grammar_size=50))
    schema = {"type": "object", "properties": {f"p{i}": {"type": "string"} for i in range(40)}}
    with pytest.raises(ValueError, match=r"EngineLimits\.max_grammar_size = 50"):
        ctx.generate_stream("q", constraint_engine=name,
                            response_format={"type": "json_schema", "json_schema": {"schema": schema}})


def test_a_500_property_open_object_compiles_with_the_defaults(scripted: Scripted) -> None:
    schema = {"type": "object", "properties": {f"p{i}": {"type": "integer"} for i in range(500)}}
    result = scripted(reply='{"p3": 4, "p499": 5}').generate(  # llguidance keeps declaration order
        "q", response_format={"type": "json_schema", "json_schema": {"schema": schema}}, max_tokens=40)
    assert result.parsed == {"p3": 4, "p499": 5}


@pytest.mark.parametrize(("limits", "named"), [
    (EngineLimits(max_mask_seconds=1e-9), "EngineLimits.max_mask_seconds"),
    (EngineLimits(max_items_in_row=60), "EngineLimits.max_items_in_row = 60"),
])
def test_a_mask_over_a_limit_ends_only_its_own_stream(scripted: Scripted, limits: EngineLimits, named: str,
                                                      plugin_system: lmstream.PluginSystem) -> None:
    ctx = scripted(lambda prompt: "x" * 400 if "heavy" in prompt else "polite " * 150,
                   token_delay=0.002, max_batch_size=4)
    name = with_engine(ctx, limits)
    polite = ctx.generate_stream("polite")
    heavy = ctx.generate_stream("heavy", constraint_engine=name, max_tokens=400,
                                response_format={"type": "grammar", "lark": AMBIGUOUS})
    heavy_events = list(heavy)
    polite_events = list(polite)
    info = heavy_events[-1]
    assert isinstance(info, Info) and info.stop_reason == "error", info
    assert named in str(info.error)
    assert isinstance(polite_events[-1], Info) and polite_events[-1].stop_reason == "length"
    text = "".join(e.text for e in polite_events if isinstance(e, Chunk))
    assert text == ("polite " * 150)[:len(text)] and len(text) == 256  # its max_tokens


CITY = {"type": "object", "properties": {"city": {"type": "string"}, "population": {"type": "integer"}},
        "required": ["city", "population"], "additionalProperties": False}


def test_an_unbounded_integer_cannot_run_away(scripted: Scripted) -> None:
    reply = '{"city": "Paris", "population": ' + "1" * 200 + "}"
    result = scripted(reply=reply).generate(
        "q", response_format={"type": "json_schema", "json_schema": {"schema": CITY}}, max_tokens=120)
    assert result.stop_reason == "stop", result
    jsonschema.validate(result.parsed, CITY)
    assert result.parsed["population"] == int("1" * 16)  # 16 digits: within ±(2**53 - 1)
    assert abs(result.parsed["population"]) <= 2**53 - 1


@pytest.mark.parametrize(("schema", "reply", "expected"), [
    ({"type": "number"}, "3." + "3" * 100, 3.3333333333),
    ({"type": "number"}, "-" + "9" * 40, -999_999_999_999_999),  # 16 nines would pass 2**53 - 1
    ({"type": "integer", "minimum": 5}, "7" * 40, int("7" * 16)),
    ({"type": "number", "multipleOf": 0.5}, "2.5", 2.5),
])
def test_numbers_without_bounds_are_bounded_and_schema_bounds_kept(scripted: Scripted, schema: dict[str, Any],
                                                                   reply: str, expected: float) -> None:
    result = scripted(reply=reply).generate(
        "q", response_format={"type": "json_schema", "json_schema": {"schema": schema}}, max_tokens=80)
    assert result.stop_reason == "stop", result
    assert result.parsed == expected, result.text
    jsonschema.validate(result.parsed, schema)


def test_a_schema_that_bounds_a_number_keeps_its_own_bounds(scripted: Scripted) -> None:
    schema = {"type": "integer", "minimum": 0, "maximum": 10**30}
    result = scripted(reply="1" * 40).generate(
        "q", response_format={"type": "json_schema", "json_schema": {"schema": schema}}, max_tokens=80)
    assert result.stop_reason == "stop" and len(str(result.parsed)) > 16, result.text
    jsonschema.validate(result.parsed, schema)


DEFS_TOOL = {"type": "function", "function": {"name": "set_place", "parameters": {
    "type": "object", "required": ["place"], "additionalProperties": False,
    "$defs": {"s": {"type": "string", "maxLength": 20}},
    "properties": {"place": {"$ref": "#/$defs/s"}, "days": {"type": "integer"}}}}}
DEFS_CALLS = {
    "json": '<tool_call>\n{"name": "set_place", "arguments": {"place": "Paris"}}\n</tool_call>',
    "pythonic": '[set_place(place="Paris")]',
    "llama3_json": '{"name": "set_place", "parameters": {"place": "Paris"}}',
    "mistral": '[TOOL_CALLS][{"name": "set_place", "arguments": {"place": "Paris"}}]',
    "qwen3_coder": "<tool_call>\n<function=set_place>\n<parameter=place>\nParis\n</parameter>\n"
                   "</function>\n</tool_call>",
}


@pytest.mark.parametrize("fmt", sorted(DEFS_CALLS))
@pytest.mark.parametrize("choice", ["required", {"type": "function", "function": {"name": "set_place"}}])
def test_required_tool_calls_with_local_defs_refs_work(scripted: Scripted, fmt: str, choice: Any) -> None:
    result = scripted(reply=DEFS_CALLS[fmt]).generate("q", tools=[DEFS_TOOL], tool_parser=fmt, tool_choice=choice,
                                                      constrain_reasoning=True, max_tokens=200)
    assert [(c.name, c.arguments) for c in result.tool_calls] == [("set_place", {"place": "Paris"})], result


def test_the_defs_tool_schema_is_unchanged_for_templates() -> None:
    tool = lmstream.ToolSpec.model_validate(DEFS_TOOL)
    assert json.dumps(tool.to_openai(), sort_keys=True) == json.dumps(DEFS_TOOL, sort_keys=True)


def test_unsatisfiable_root_ref_is_refused_at_creation_in_response_format_and_in_a_tool(scripted: Scripted) -> None:
    ctx = scripted()
    with pytest.raises(ValueError, match=r"response_format.*cannot be satisfied"):
        ctx.generate_stream("q", response_format={"type": "json_schema", "json_schema": {"schema": {"$ref": "#"}}})
    tool = {"type": "function", "function": {"name": "f", "parameters": {"$ref": "#"}}}
    with pytest.raises(ValueError):
        ctx.generate_stream("q", tools=[tool], tool_parser="json", tool_choice="required")


def test_compiles_fall_back_to_the_callers_thread_when_no_large_stack_is_allowed(
        monkeypatch: pytest.MonkeyPatch) -> None:
    import threading

    from lmstream_structured import compiling

    def refuse(size: int = 0) -> int:
        raise ValueError("size not valid")

    assert compiling.run_with_stack(threading.get_ident, 64 << 20) != threading.get_ident()
    monkeypatch.setattr(threading, "stack_size", refuse)
    assert compiling.run_with_stack(threading.get_ident, 64 << 20) == threading.get_ident()
    with pytest.raises(KeyError):
        compiling.run_with_stack(lambda: {}["x"], 64 << 20)


def test_a_1000_rule_grammar_compiles_and_masks(scripted: Scripted) -> None:
    lark = "\n".join([f"r{i}: r{i + 1}" for i in range(1000)] + ['r1000: "ok" /[0-9]+/', "start: r0"])
    result = scripted(reply="ok 42").generate("q", response_format={"type": "grammar", "lark": lark},
                                             constrain_reasoning=True, max_tokens=10)
    assert result.text == "ok42", result
