"""Agent loops on the embedded default model (SmolLM2-135M-Instruct) with no flags:
tools through the generic format, a tool-result turn, and structured output that a phantom
``<think>`` cannot trap. Slow: a real model on a CPU."""

from __future__ import annotations

from collections.abc import Callable

import pytest

import lmstream

pytestmark = pytest.mark.slow
pytest.importorskip("llguidance")

WEATHER = {"type": "function", "function": {
    "name": "get_weather", "description": "Get the current weather for a city.",
    "parameters": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}}}
TIME = {"type": "function", "function": {
    "name": "get_time", "description": "Get the current local time in a city.",
    "parameters": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}}}
ASK = [{"role": "user", "content": "What's the weather in Paris right now?"}]


@pytest.fixture(scope="module", params=["mlx", "llama_cpp"])
def context(request: pytest.FixtureRequest,
            default_contexts: Callable[[str], lmstream.ModelContext]) -> lmstream.ModelContext:
    """The default model on each real backend installed here (skipped where one is missing)."""
    return default_contexts(request.param)


def test_the_default_model_does_not_reason(context: lmstream.ModelContext) -> None:
    assert context.reasoning_markers is None


def test_auto_tool_choice_calls_the_tool_a_question_needs(context: lmstream.ModelContext) -> None:
    result = context.generate(messages=ASK, tools=[WEATHER, TIME], max_tokens=40)
    assert [(c.name, c.arguments) for c in result.tool_calls] == [("get_weather", {"city": "Paris"})]


def test_required_tool_choice_always_gives_a_valid_call(context: lmstream.ModelContext) -> None:
    result = context.generate(messages=[{"role": "user", "content": "Hello!"}], tools=[WEATHER, TIME],
                              tool_choice="required", parallel_tool_calls=False, max_tokens=40)
    assert len(result.tool_calls) == 1 and result.tool_calls[0].name in ("get_weather", "get_time")
    assert isinstance(result.tool_calls[0].arguments.get("city"), str)


def test_a_tool_result_turn_renders_and_gets_an_answer(context: lmstream.ModelContext) -> None:
    history = [*ASK, {"role": "assistant", "content": None, "tool_calls": [{
        "id": "call_1", "type": "function",
        "function": {"name": "get_weather", "arguments": '{"city": "Paris"}'}}]},
        {"role": "tool", "tool_call_id": "call_1", "content": "21 C and sunny"}]
    result = context.generate(messages=history, tools=[WEATHER, TIME], max_tokens=8)
    assert result.info.error is None and result.stop_reason in ("stop", "length")


def test_json_schema_is_never_trapped_in_reasoning(context: lmstream.ModelContext) -> None:
    schema = {"type": "object", "properties": {"city": {"type": "string", "maxLength": 20}},
              "required": ["city"], "additionalProperties": False}
    result = context.generate("Name a city, as JSON.", max_tokens=40, response_format={
        "type": "json_schema", "json_schema": {"name": "c", "schema": schema}})
    assert result.reasoning == "" and result.stop_reason == "stop"
    assert isinstance(result.parsed["city"], str)
