"""Agent loops on any model with no flags (scripted backend): the generic tool-call fallback,
calls parsed only when tools are declared, reasoning only where the model has it, and a
reasoning budget that keeps structured output out of reasoning."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest

import lmstream
from lmstream import Chunk, LMInput, ToolSpec
from lmstream.pipeline._constraintspec import constraint_spec_for
from lmstream_scripted.model import CHATML_TEMPLATE

SMOL = ("{% for message in messages %}{{'<|im_start|>' + message['role'] + '\n' + message['content'] + "
        "'<|im_end|>' + '\n'}}{% endfor %}{% if add_generation_prompt %}{{ '<|im_start|>assistant\n' }}"
        "{% endif %}")
"""A ChatML template that knows neither tools nor reasoning (as SmolLM2's)."""
WEATHER = {"type": "function", "function": {
    "name": "get_weather", "description": "Current weather.",
    "parameters": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}}}
CALL = '{"name": "get_weather", "arguments": {"city": "Paris"}}'
ASK = [{"role": "user", "content": "Weather in Paris?"}]

pytest.importorskip("llguidance")


@pytest.fixture
def contexts() -> Iterator[list[lmstream.ModelContext]]:
    opened: list[lmstream.ModelContext] = []
    yield opened
    for context in opened:
        context.close()


def load(contexts: list[lmstream.ModelContext], reply: Any, **options: Any) -> lmstream.ModelContext:
    options.setdefault("model_chat_template", SMOL)
    context = lmstream.load(backend="scripted", reply=reply, name="SmolLM2-135M-Instruct", **options)
    contexts.append(context)
    return context


# -- tools with no flags -----------------------------------------------------------------
def test_tools_work_on_a_model_no_parser_fits(contexts: list[lmstream.ModelContext]) -> None:
    context = load(contexts, CALL)
    result = context.generate(messages=ASK, tools=[WEATHER])
    assert [(c.name, c.arguments) for c in result.tool_calls] == [("get_weather", {"city": "Paris"})]
    prompt = context.prepare(lmstream.UserInput(messages=ASK, tools=[WEATHER])).text or ""
    assert prompt.startswith("<|im_start|>system\nYou can call these tools:\n{\"name\": \"get_weather\"")


def test_plain_text_stays_text_under_the_lazy_constraint(contexts: list[lmstream.ModelContext]) -> None:
    context = load(contexts, "It is {sunny} in Paris.")
    result = context.generate(messages=ASK, tools=[WEATHER])
    assert result.text == "It is {sunny} in Paris." and not result.tool_calls
    assert result.stop_reason == "stop"


def test_text_then_a_call(contexts: list[lmstream.ModelContext]) -> None:
    context = load(contexts, f"Let me check. {CALL} And more text.")
    result = context.generate(messages=ASK, tools=[WEATHER])
    assert result.text == "Let me check. "  # nothing may follow a call
    assert [c.name for c in result.tool_calls] == ["get_weather"]
    assert result.stop_reason == "stop"


@pytest.mark.parametrize("choice", ["required", {"type": "function", "function": {"name": "get_weather"}}])
def test_a_forced_choice_gives_a_valid_call(contexts: list[lmstream.ModelContext], choice: Any) -> None:
    context = load(contexts, 'Sure: {"name": "get_weather", "arguments": {"city": "Oslo"}}')
    result = context.generate(messages=ASK, tools=[WEATHER], tool_choice=choice)
    assert [(c.name, c.arguments) for c in result.tool_calls] == [("get_weather", {"city": "Oslo"})]
    assert result.text == ""


@pytest.mark.parametrize(("parallel", "count"), [(True, 2), (False, 1)])
def test_parallel_calls_only_when_allowed(contexts: list[lmstream.ModelContext], parallel: bool,
                                          count: int) -> None:
    reply = f'[{CALL}, {CALL.replace("Paris", "Rome")}]'
    context = load(contexts, reply)
    result = context.generate(messages=ASK, tools=[WEATHER], tool_choice="required",
                              parallel_tool_calls=parallel)
    assert len(result.tool_calls) == count


def test_without_an_engine_the_generic_format_still_parses() -> None:
    class Registry:
        def names(self) -> list[str]:
            return []

    class System:
        constraint_engines = Registry()

    class Context:
        info = lmstream.ModelInfo(name="m", backend="scripted")
        backend_model = type("B", (), {"supports_constraints": True})()
        plugin_system = System()

    tools = [ToolSpec.model_validate(WEATHER)]
    spec = constraint_spec_for(Context(), lmstream.GenerationParameters(), LMInput((1,), tools=tools),
                               "generic")
    assert spec is None
    with_engine = constraint_spec_for(Context(), lmstream.GenerationParameters(tool_choice="auto"),
                                      LMInput((1,), tools=tools), "json")
    assert with_engine is None  # the lazy constraint is the generic format's only


def test_tool_parser_stays_an_override(contexts: list[lmstream.ModelContext]) -> None:
    reply = '<tool_call>\n{"name": "get_weather", "arguments": {"city": "Paris"}}\n</tool_call>'
    context = load(contexts, reply, tool_parser="json")
    result = context.generate(messages=ASK, tools=[WEATHER])
    assert [c.name for c in result.tool_calls] == ["get_weather"]


# -- calls parsed only when tools are declared ----------------------------------------------
def test_calls_are_parsed_only_when_the_request_declares_tools(contexts: list[lmstream.ModelContext]) -> None:
    reply = '<tool_call>\n{"name": "get_weather", "arguments": {"city": "Paris"}}\n</tool_call>'
    context = load(contexts, reply, tool_parser="json", model_chat_template=CHATML_TEMPLATE)
    plain = context.generate(messages=ASK)
    assert not plain.tool_calls and plain.text == reply and plain.stop_reason == "stop"
    assert context.generate(messages=ASK, tools=[WEATHER]).tool_calls
    assert context.generate(messages=ASK, parse_tool_calls=True).tool_calls
    assert context.generate(messages=ASK, tool_parser="json").tool_calls  # asked by name
    assert not context.generate(messages=ASK, tools=[WEATHER], parse_tool_calls=False).tool_calls
    assert not context.generate(messages=ASK, tools=[WEATHER], tool_choice="none").tool_calls


# -- reasoning only where the model has it ------------------------------------------------
def test_reasoning_markers_come_from_the_template_vocabulary_or_load_option(
        contexts: list[lmstream.ModelContext]) -> None:
    assert load(contexts, "x").reasoning_markers is None
    assert load(contexts, "x", model_chat_template=CHATML_TEMPLATE).reasoning_markers == ("<think>", "</think>")
    seed = "{{ messages[0]['content'] }}{% if x %}<seed:think>{% endif %}"
    assert load(contexts, "x", model_chat_template=seed).reasoning_markers == ("<seed:think>", "</seed:think>")
    declared = load(contexts, "x", reasoning_markers=["<r>", "</r>"])
    assert declared.reasoning_markers == ("<r>", "</r>")
    with pytest.raises(ValueError, match="reasoning_markers"):
        load(contexts, "x", reasoning_markers=("<r>", "<r>"))


def test_think_is_content_on_a_model_without_reasoning(contexts: list[lmstream.ModelContext]) -> None:
    context = load(contexts, "<think>hm</think>Paris.")
    result = context.generate(messages=ASK)
    assert result.text == "<think>hm</think>Paris." and result.reasoning == ""
    asked = context.generate(messages=ASK, reasoning_channel=True)
    assert (asked.reasoning, asked.text) == ("hm", "Paris.")
    reasoning_model = load(contexts, "<think>hm</think>Paris.", model_chat_template=CHATML_TEMPLATE)
    split = reasoning_model.generate(messages=ASK)
    assert (split.reasoning, split.text) == ("hm", "Paris.")
    off = reasoning_model.generate(messages=ASK, reasoning_channel=False)
    assert off.text == "<think>hm</think>Paris."


def test_structured_output_is_not_trapped_in_a_phantom_reasoning_block(
        contexts: list[lmstream.ModelContext]) -> None:
    """The issue's case: a model without reasoning writes '<think>' under json_schema; the
    reasoning channel opened, the constraint waited, and the answer was empty with 'length'."""
    context = load(contexts, '<think>{"city": "Paris"}')
    schema = {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}
    result = context.generate(messages=ASK, max_tokens=60, response_format={
        "type": "json_schema", "json_schema": {"name": "c", "schema": schema}})
    assert result.stop_reason == "stop" and result.reasoning == ""
    assert result.parsed == {"city": "Paris"}


# -- the reasoning budget -------------------------------------------------------------------
def test_a_reasoning_budget_closes_the_reasoning_then_the_constraint_starts(
        contexts: list[lmstream.ModelContext]) -> None:
    context = load(contexts, "<think>" + "a" * 200 + '</think>{"n": 1}', model_chat_template=CHATML_TEMPLATE)
    fmt = {"type": "json_object"}
    bounded = context.generate(messages=ASK, response_format=fmt, reasoning_budget=5, max_tokens=100)
    assert bounded.reasoning == "aaaaa" and bounded.parsed == {"n": 1}
    assert bounded.stop_reason == "stop"
    default = context.generate(messages=ASK, response_format=fmt, max_tokens=100)
    assert default.reasoning == "a" * 50  # half of max_tokens at most (DEFAULT_REASONING_BUDGET)
    assert default.parsed == {"n": 1} and default.stop_reason == "stop"


def test_a_reasoning_budget_alone_closes_free_reasoning(contexts: list[lmstream.ModelContext]) -> None:
    context = load(contexts, "<think>" + "b" * 40 + "</think>ok", model_chat_template=CHATML_TEMPLATE)
    result = context.generate(messages=ASK, reasoning_budget=3)
    assert result.reasoning == "bbb" and result.text.endswith("ok")
    events = list(context.generate_stream(messages=ASK, reasoning_budget=0))
    reasoning = "".join(e.text for e in events if isinstance(e, Chunk) and e.channel == "reasoning")
    assert reasoning == ""


def test_a_reasoning_budget_leaves_an_answer_without_reasoning_alone(
        contexts: list[lmstream.ModelContext]) -> None:
    context = load(contexts, "No need to think: <b>42</b>.", model_chat_template=CHATML_TEMPLATE)
    result = context.generate(messages=ASK, reasoning_budget=2)
    assert result.text == "No need to think: <b>42</b>." and result.reasoning == ""
    opened = load(contexts, "a long thought</think>done", reasoning_markers=("<think>", "</think>"),
                  model_chat_template=SMOL + "<think>")
    bounded = opened.generate(messages=ASK, reasoning_budget=4)  # the prompt opened reasoning
    assert bounded.reasoning == "a lo" and bounded.stop_reason == "stop"


def test_reasoning_budget_is_validated() -> None:
    with pytest.raises(ValueError, match="reasoning_budget"):
        lmstream.GenerationParameters(reasoning_budget=-1)
    with pytest.raises(ValueError, match="reasoning_budget"):
        lmstream.GenerationParameters.model_validate({"reasoning_budget": True})
    with pytest.raises(ValueError, match="reasoning_channel"):
        lmstream.GenerationParameters.model_validate({"reasoning_channel": "yes"})


def test_the_generic_call_round_trips_through_history(contexts: list[lmstream.ModelContext]) -> None:
    context = load(contexts, "It is 21C.")
    history = [*ASK, {"role": "assistant", "content": None, "tool_calls": [
        {"id": "c1", "type": "function", "function": {"name": "get_weather", "arguments": '{"city": "Paris"}'}}]},
        {"role": "tool", "tool_call_id": "c1", "content": "21C"}]
    result = context.generate(messages=history, tools=[WEATHER])
    assert result.text == "It is 21C."
    prompt = context.prepare(lmstream.UserInput(messages=history, tools=[WEATHER])).text or ""
    assert f"<|im_start|>assistant\n{json.dumps(json.loads(CALL))}<|im_end|>" in prompt


def test_a_vocabulary_with_think_as_one_token_has_reasoning() -> None:
    from lmstream.api._decisions import model_reasoning_markers

    class Tokenizer:
        def __init__(self, single: set[str]) -> None:
            self.single = single

        def encode(self, text: str, *, add_special_tokens: bool = True) -> list[int]:
            return [7] if text in self.single else list(text.encode())

    info = lmstream.ModelInfo(name="m", backend="test", chat_template=SMOL)
    assert model_reasoning_markers(info, Tokenizer({"<think>"})) == ("<think>", "</think>")
    assert model_reasoning_markers(info, Tokenizer({"<seed:think>"})) == ("<seed:think>", "</seed:think>")
    assert model_reasoning_markers(info, Tokenizer(set())) is None
    named = lmstream.ModelInfo(name="m", backend="test", chat_template={"default": SMOL, "think": "<think>"})
    assert model_reasoning_markers(named, Tokenizer(set())) == ("<think>", "</think>")
