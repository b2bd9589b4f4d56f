"""tool_choice required / named on the scripted backend: the output is one call in the model's
own tool-call format, its parser reads it back, and the arguments validate."""

from __future__ import annotations

from collections.abc import Callable

import jsonschema
import pytest

import lmstream

pytest.importorskip("llguidance")

Scripted = Callable[..., lmstream.ModelContext]
WEATHER = {"type": "object", "required": ["city", "days"], "additionalProperties": False,
           "properties": {"city": {"type": "string"}, "days": {"type": "integer", "minimum": 1, "maximum": 7},
                          "unit": {"enum": ["c", "f"]}}}
TOOLS = [{"type": "function", "function": {"name": "get_weather", "parameters": WEATHER}},
         {"type": "function", "function": {"name": "noop", "parameters": {"type": "object", "properties": {}}}}]
CALLS = {
    "json": '<tool_call>\n{"name": "get_weather", "arguments": {"city": "Paris", "days": 3}}\n</tool_call>',
    "pythonic": '[get_weather(city="Paris", days=3)]',
    "llama3_json": '{"name": "get_weather", "parameters": {"city": "Paris", "days": 3}}',
    "mistral": '[TOOL_CALLS][{"name": "get_weather", "arguments": {"city": "Paris", "days": 3}}]',
    "qwen3_coder": "<tool_call>\n<function=get_weather>\n<parameter=city>\nParis\n</parameter>\n"
                   "<parameter=days>\n3\n</parameter>\n</function>\n</tool_call>",
}
# the same calls with a wrong type, an out-of-range value and an undeclared argument
BENT = {
    "json": '<tool_call>\n{"name": "get_weather", "arguments": {"city": "Paris", "days": 30, "x": 1}}\n</tool_call>',
    "pythonic": '[get_weather(city="Paris", days="3", x=1)]',
    "llama3_json": '{"name": "get_weather", "parameters": {"city": "Paris", "days": 30, "x": 1}}',
    "mistral": '[TOOL_CALLS][{"name": "get_weather", "arguments": {"city": "Paris", "days": 30, "x": 1}}]',
    "qwen3_coder": "<tool_call>\n<function=get_weather>\n<parameter=city>\nParis\n</parameter>\n"
                   "<parameter=days>\n30\n</parameter>\n</function>\n</tool_call>",
}


@pytest.mark.parametrize("fmt", sorted(CALLS))
def test_required_yields_a_parsed_valid_call(scripted: Scripted, fmt: str) -> None:
    for reply in (CALLS[fmt], "Let me see. " + BENT[fmt]):
        # one call: with parallel calls allowed, the scripted model's fallback past a bent
        # script may open a second call (test_tool_choice_parallel.py covers several)
        result = scripted(reply=reply).generate("q", tools=TOOLS, tool_parser=fmt, tool_choice="required",
                                                parallel_tool_calls=False, constrain_reasoning=True,
                                                max_tokens=300)
        assert result.stop_reason == "stop", result
        assert [c.name for c in result.tool_calls] == ["get_weather"], result
        jsonschema.validate(result.tool_calls[0].arguments, WEATHER)
        assert not result.rejected_tool_calls and result.text.strip() == ""


def test_a_named_function_is_the_only_one_allowed(scripted: Scripted) -> None:
    result = scripted(reply=CALLS["json"]).generate(
        "q", tools=TOOLS, tool_parser="json", max_tokens=100,
        tool_choice={"type": "function", "function": {"name": "noop"}})
    assert [(c.name, c.arguments) for c in result.tool_calls] == [("noop", {})]


def test_auto_and_none_add_no_constraint(scripted: Scripted) -> None:
    for choice in ("auto", "none"):
        result = scripted(reply="plain words").generate("q", tools=TOOLS, tool_parser="json", tool_choice=choice)
        assert result.text == "plain words"


def test_formats_without_a_grammar_raise_at_creation(scripted: Scripted) -> None:
    with pytest.raises(ValueError, match="no grammar for it"):
        scripted().generate_stream("q", tools=TOOLS, tool_parser="harmony", tool_choice="required")


def test_a_marker_that_is_one_special_token_is_forced_as_that_token(scripted: Scripted) -> None:
    import llguidance

    from lmstream.pipeline._constraints import vocabulary_for
    from lmstream.protocol import coerce_tools
    from lmstream_structured.engine import LLGuidanceEngine
    from lmstream_structured.toolgrammars import tool_call_grammar

    ctx = scripted()
    tokenizer = ctx.tokenizer
    start_id = tokenizer.special_ids["<|im_start|>"]

    def encode(text: str, **_: object) -> list[int]:  # this model writes [TOOL_CALLS] as <|im_start|>
        return [start_id] if text == "[TOOL_CALLS]" else tokenizer.encode(text, add_special_tokens=False)

    lltok = LLGuidanceEngine().tokenizer(vocabulary_for(ctx.backend_model))
    lark = tool_call_grammar("mistral", coerce_tools(TOOLS) or [], encode, lltok.is_special_token)
    assert lark.startswith(f"start: <[{start_id}]> %json")
    matcher = llguidance.LLMatcher(lltok, llguidance.LLMatcher.grammar_from_lark(lark))
    assert not matcher.is_error()
    assert matcher.consume_tokens([start_id, *tokenizer.encode('[{"name": "noop", "arguments": {}}]')])
    assert matcher.is_accepting()


ANSWER = {"type": "object", "additionalProperties": False, "required": ["summary"],
          "properties": {"summary": {"type": "string"}}}
ANSWER_FORMAT = {"type": "json_schema", "json_schema": {"name": "answer", "schema": ANSWER}}


@pytest.mark.parametrize("fmt", sorted(CALLS))
def test_a_json_answer_with_tools_on_auto_may_also_be_a_call(scripted: Scripted, fmt: str) -> None:
    """response_format + declared tools + tool_choice auto (the Agents SDK's output_type with
    tools): the output is one call of a declared tool, or the JSON answer; nothing else."""
    call = scripted(reply=CALLS[fmt]).generate("q", tools=TOOLS, tool_parser=fmt, response_format=ANSWER_FORMAT,
                                               constrain_reasoning=True, max_tokens=300)
    assert [c.name for c in call.tool_calls] == ["get_weather"], call
    answer = scripted(reply='{"summary": "sunny"}').generate(
        "q", tools=TOOLS, tool_parser=fmt, response_format=ANSWER_FORMAT, constrain_reasoning=True, max_tokens=300)
    assert answer.stop_reason == "stop" and not answer.tool_calls and answer.parsed == {"summary": "sunny"}


def test_a_json_answer_with_a_format_without_call_grammar_keeps_the_schema(scripted: Scripted) -> None:
    result = scripted(reply='{"summary": "sunny"}').generate(
        "q", tools=TOOLS, tool_parser="harmony", response_format=ANSWER_FORMAT, constrain_reasoning=True,
        max_tokens=300)
    assert result.parsed == {"summary": "sunny"}


def test_a_required_argument_the_schema_does_not_declare_stays_possible(scripted: Scripted) -> None:
    """``{"type": "object", "required": ["city"]}`` (no ``properties``) is valid JSON Schema
    (``city`` may hold anything): closing the schema against invented names keeps ``city``."""
    loose = [{"type": "function", "function": {"name": "get_weather",
                                               "parameters": {"type": "object", "required": ["city"]}}}]
    result = scripted(reply=CALLS["json"]).generate("q", tools=loose, tool_parser="json", tool_choice="required",
                                                    parallel_tool_calls=False, max_tokens=100)
    assert [c.name for c in result.tool_calls] == ["get_weather"], result
    assert "city" in result.tool_calls[0].arguments and set(result.tool_calls[0].arguments) == {"city"}


def test_a_forced_call_to_a_tool_no_finite_value_satisfies_is_refused_at_creation(scripted: Scripted) -> None:
    """A tool whose parameters require themselves through $ref can never be called: forcing a
    call to it is an error naming the tool at creation, not a failure of the generation."""
    endless = {"type": "object", "required": ["a"], "properties": {"a": {"$ref": "#/$defs/A"}},
               "$defs": {"A": {"type": "object", "required": ["b"], "properties": {"b": {"$ref": "#/$defs/A"}}}}}
    tools = [*TOOLS, {"type": "function", "function": {"name": "endless", "parameters": endless}}]
    context = scripted(reply=CALLS["json"])
    for choice in ("required", {"type": "function", "function": {"name": "endless"}}):
        with pytest.raises(ValueError, match=r"tools\[2\] \('endless'\).*cannot be satisfied"):
            context.generate_stream("q", tools=tools, tool_parser="json", tool_choice=choice)
    named = context.generate("q", tools=tools, tool_parser="json", max_tokens=100,
                             tool_choice={"type": "function", "function": {"name": "get_weather"}})
    assert [c.name for c in named.tool_calls] == ["get_weather"]
