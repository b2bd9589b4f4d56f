"""tool_choice required with parallel_tool_calls: one or more calls in the model's own format
(OpenAI's "at least one"); exactly one with parallel_tool_calls false or a named function."""

from __future__ import annotations

from collections.abc import Callable

import pytest

import lmstream

pytest.importorskip("llguidance")

Scripted = Callable[..., lmstream.ModelContext]
WEATHER = {"type": "object", "required": ["city"], "additionalProperties": False,
           "properties": {"city": {"type": "string"}}}
TOOLS = [{"type": "function", "function": {"name": "get_weather", "parameters": WEATHER}},
         {"type": "function", "function": {"name": "noop", "parameters": {"type": "object", "properties": {}}}}]
TWO = {
    "json": '<tool_call>\n{"name": "get_weather", "arguments": {"city": "Paris"}}\n</tool_call>\n'
            '<tool_call>\n{"name": "get_weather", "arguments": {"city": "Rome"}}\n</tool_call>',
    "pythonic": '[get_weather(city="Paris"), get_weather(city="Rome")]',
    "llama3_json": '{"name": "get_weather", "parameters": {"city": "Paris"}}; '
                   '{"name": "get_weather", "parameters": {"city": "Rome"}}',
    "mistral": '[TOOL_CALLS][{"name": "get_weather", "arguments": {"city": "Paris"}}, '
               '{"name": "get_weather", "arguments": {"city": "Rome"}}]',
    "qwen3_coder": "<tool_call>\n<function=get_weather>\n<parameter=city>\nParis\n</parameter>\n</function>\n"
                   "</tool_call>\n<tool_call>\n<function=get_weather>\n<parameter=city>\nRome\n</parameter>\n"
                   "</function>\n</tool_call>",
    "generic": '[{"name": "get_weather", "arguments": {"city": "Paris"}}, '
               '{"name": "get_weather", "arguments": {"city": "Rome"}}]',
}


def _calls(context: lmstream.ModelContext, fmt: str, **params: object) -> list[tuple[str, object]]:
    result = context.generate("q", tools=TOOLS, tool_parser=fmt, constrain_reasoning=True, max_tokens=400,
                              **params)
    assert result.stop_reason == "stop", result
    assert not result.rejected_tool_calls, result
    return [(c.name, c.arguments) for c in result.tool_calls]


@pytest.mark.parametrize("fmt", sorted(TWO))
def test_required_with_parallel_allows_several_calls(scripted: Scripted, fmt: str) -> None:
    calls = _calls(scripted(reply=TWO[fmt]), fmt, tool_choice="required", parallel_tool_calls=True)
    assert calls == [("get_weather", {"city": "Paris"}), ("get_weather", {"city": "Rome"})]


@pytest.mark.parametrize("fmt", sorted(set(TWO) - {"generic"}))
def test_required_left_unset_is_one_call_in_the_models_format(scripted: Scripted, fmt: str) -> None:
    """Small models repeat a call when allowed more (the default model did): one unless asked."""
    calls = _calls(scripted(reply=TWO[fmt]), fmt, tool_choice="required")
    assert calls == [("get_weather", {"city": "Paris"})]


@pytest.mark.parametrize("fmt", sorted(TWO))
def test_required_without_parallel_is_exactly_one_call(scripted: Scripted, fmt: str) -> None:
    calls = _calls(scripted(reply=TWO[fmt]), fmt, tool_choice="required", parallel_tool_calls=False)
    assert calls == [("get_weather", {"city": "Paris"})]


@pytest.mark.parametrize("fmt", sorted(TWO))
def test_a_named_function_is_exactly_one_call(scripted: Scripted, fmt: str) -> None:
    named = {"type": "function", "function": {"name": "get_weather"}}
    calls = _calls(scripted(reply=TWO[fmt]), fmt, tool_choice=named)
    assert calls == [("get_weather", {"city": "Paris"})]


@pytest.mark.parametrize("fmt", ["json", "qwen3_coder"])
def test_required_with_parallel_still_allows_no_text(scripted: Scripted, fmt: str) -> None:
    context = scripted(reply="Let me see. " + TWO[fmt])
    result = context.generate("q", tools=TOOLS, tool_parser=fmt, tool_choice="required", constrain_reasoning=True,
                              max_tokens=400, parallel_tool_calls=True)
    assert [c.arguments for c in result.tool_calls] == [{"city": "Paris"}, {"city": "Rome"}], result
    assert result.text.strip() == ""


def test_grammar_names_the_base_format_when_it_has_none(scripted: Scripted) -> None:
    with pytest.raises(ValueError, match="'harmony': no grammar for it"):
        scripted().generate_stream("q", tools=TOOLS, tool_parser="harmony", tool_choice="required")


@pytest.mark.slow
def test_default_model_required_calls(default_contexts: Callable[[str], lmstream.ModelContext]) -> None:
    """On the default model (llama.cpp, greedy): required with parallel calls gives at least one
    valid call; without parallel calls exactly one."""
    context = default_contexts("llama_cpp")
    prompt = "What is the weather in Paris and in Rome?"
    for parallel in (True, False, None):
        result = context.generate(prompt, tools=TOOLS, tool_choice="required", parallel_tool_calls=parallel,
                                  temperature=0, max_tokens=160)
        assert result.tool_calls and not result.rejected_tool_calls, result
        assert all(c.name in ("get_weather", "noop") for c in result.tool_calls)
        if parallel is not True:
            assert len(result.tool_calls) == 1
