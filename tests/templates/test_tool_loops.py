"""Tool loops render on every template (bundled built-ins, the stored real templates, the
default model's and the scripted model's): assistant calls with null or empty content, several
calls and results per turn. Templates that know tools render exactly what transformers renders;
the others get the documented rewrite (docs/chat-templates.md, "Tool loops")."""

from __future__ import annotations

import copy
import json
from collections.abc import Callable
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from lmstream import ChatMessage, TemplateError
from lmstream.hooks import TemplateRequest, get_plugin_system
from lmstream.model import ModelInfo
from lmstream.pipeline import TemplateCaps, render_chat_template, render_messages
from lmstream.pipeline._rendering import _choose, template_caps
from lmstream.pipeline._toolturns import GENERIC_REMINDER
from lmstream_scripted.model import CHATML_TEMPLATE
from lmstream_templates.builtins import BUILTIN_NAMES, builtin_source

SPECIAL = {"bos_token": "<s>", "eos_token": "</s>", "unk_token": "<unk>"}
WEATHER = {"type": "function", "function": {
    "name": "get_weather", "description": "Current weather for a city.",
    "parameters": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}}}
TIME = {"type": "function", "function": {
    "name": "get_time", "description": "Local time in a city.",
    "parameters": {"type": "object", "properties": {"city": {"type": "string"}}}}}
TOOLS = [WEATHER, TIME]


def call(call_id: str, name: str, city: str, *, as_string: bool = False) -> dict[str, Any]:
    arguments: Any = {"city": city}
    return {"id": call_id, "type": "function",
            "function": {"name": name, "arguments": json.dumps(arguments) if as_string else arguments}}


def loop(content: Any, *, parallel: bool) -> list[dict[str, Any]]:
    """user -> assistant call(s) (content as given) -> result(s) -> answer -> user."""
    calls = [call("call00001", "get_weather", "Paris", as_string=True)]
    results = [{"role": "tool", "tool_call_id": "call00001", "name": "get_weather",
                "content": "RESULT-ONE 21C"}]
    if parallel:
        calls.append(call("call00002", "get_time", "Rome"))
        results.append({"role": "tool", "tool_call_id": "call00002", "name": "get_time",
                        "content": "RESULT-TWO 10:00"})
    return [{"role": "user", "content": "Weather in Paris and time in Rome?"},
            {"role": "assistant", "content": content, "tool_calls": calls},
            *results,
            {"role": "assistant", "content": "It is 21C."},
            {"role": "user", "content": "Thanks!"}]


def stored(name: str) -> str:
    from pathlib import Path

    return (Path(__file__).resolve().parents[1] / "data" / "templates" / name).read_text("utf-8")


STORED = ["qwen2.5-instruct.jinja", "llama-3.1-instruct.jinja", "mistral-7b-instruct-v0.3.jinja",
          "gemma-2-it.jinja", "gemma-3-it.jinja", "zephyr-7b-beta.jinja"]
SINGLE_CALL_ONLY = {"llama-3.1-instruct.jinja", "llama3"}
"""Templates that refuse several calls in one turn (their own raise_exception)."""


def every_template() -> list[tuple[str, str]]:
    templates = [(name, stored(name)) for name in STORED]
    templates += [(f"builtin:{name}", builtin_source(name)) for name in BUILTIN_NAMES]
    templates.append(("scripted", CHATML_TEMPLATE))
    return templates


def caps_of(source: str) -> TemplateCaps:
    choice = _choose(source, origin="", model=None, system=get_plugin_system())
    request = TemplateRequest(messages=[{"role": "user", "content": "q"}], source=choice.source,
                              special_tokens=SPECIAL)
    return template_caps(choice, request)


@pytest.mark.parametrize(("label", "source"), every_template())
@pytest.mark.parametrize("content", [None, ""])
@pytest.mark.parametrize("parallel", [False, True])
def test_a_tool_loop_renders_on_every_template(label: str, source: str, content: Any,
                                               parallel: bool) -> None:
    if parallel and label.removeprefix("builtin:") in SINGLE_CALL_ONLY:
        pytest.skip("the template refuses parallel calls itself")
    messages = loop(content, parallel=parallel)
    out = render_chat_template(source, messages, tools=TOOLS, options={"add_generation_prompt": True},
                               **SPECIAL)
    assert "RESULT-ONE 21C" in out and "Paris" in out and "get_weather" in out
    if parallel:
        assert "RESULT-TWO 10:00" in out and "Rome" in out
    assert "None" not in out  # a null content is never printed as text


@pytest.mark.parametrize(("label", "source"), every_template())
def test_templates_that_know_tools_render_what_transformers_renders(label: str, source: str,
                                                                    hf_render: Callable[..., str]) -> None:
    caps = caps_of(source)
    if not caps.complete:
        pytest.skip(f"{label} does not know tool loops: rewritten (tested below)")
    parallel = label.removeprefix("builtin:") not in SINGLE_CALL_ONLY
    messages = loop(None, parallel=parallel)
    reference = copy.deepcopy(messages)  # transformers users pass arguments as dicts; we decode
    for function in (c["function"] for c in reference[1]["tool_calls"]):  # OpenAI's JSON strings
        if isinstance(function["arguments"], str):
            function["arguments"] = json.loads(function["arguments"])
    for gen in (True, False):
        expected = hf_render(source, copy.deepcopy(reference), tools=copy.deepcopy(TOOLS),
                             add_generation_prompt=gen)
        ours = render_chat_template(source, messages, tools=TOOLS, options={"add_generation_prompt": gen},
                                    **SPECIAL)
        assert ours == expected


def test_the_templates_that_know_tools_are_found() -> None:
    complete = {label for label, source in every_template() if caps_of(source).complete}
    assert {"qwen2.5-instruct.jinja", "llama-3.1-instruct.jinja", "mistral-7b-instruct-v0.3.jinja",
            "builtin:chatml"} <= complete
    assert not complete & {"scripted", "gemma-2-it.jinja", "zephyr-7b-beta.jinja"}


SMOL = ("{% for message in messages %}{% if loop.first and messages[0]['role'] != 'system' %}"
        "{{ '<|im_start|>system\nYou are a helpful AI assistant named SmolLM, trained by Hugging Face"
        "<|im_end|>\n' }}{% endif %}{{'<|im_start|>' + message['role'] + '\n' + message['content'] + "
        "'<|im_end|>' + '\n'}}{% endfor %}{% if add_generation_prompt %}"
        "{{ '<|im_start|>assistant\n' }}{% endif %}")
"""SmolLM2-135M-Instruct's chat template (the default model's), as its GGUF carries it."""


def test_the_default_models_template_gets_the_documented_rewrite() -> None:
    model = ModelInfo(name="SmolLM2-135M-Instruct", backend="test", chat_template=SMOL)
    messages = [ChatMessage(role="user", content="Weather in Paris?"),
                ChatMessage(role="assistant", content=None,
                            tool_calls=[call("c1", "get_weather", "Paris", as_string=True)]),
                ChatMessage(role="tool", tool_call_id="c1", content="21C")]
    out = render_messages(model, messages, tools=[WEATHER], tool_format="generic")
    tool_line = json.dumps({"name": "get_weather", "description": "Current weather for a city.",
                            "parameters": WEATHER["function"]["parameters"]})
    assert out == (
        "<|im_start|>system\nYou can call these tools:\n" + tool_line + "\n\n"
        'To call a tool, answer with only a JSON object: {"name": <tool name>, "arguments": '
        "<arguments object>}. To call several tools, answer with a JSON list of such objects. "
        "Otherwise answer the user in plain text.<|im_end|>\n"
        "<|im_start|>user\nWeather in Paris?<|im_end|>\n"
        '<|im_start|>assistant\n{"name": "get_weather", "arguments": {"city": "Paris"}}<|im_end|>\n'
        "<|im_start|>tool\n21C<|im_end|>\n<|im_start|>assistant\n")


def test_the_reminder_ends_the_users_turn_only_when_the_user_spoke_last() -> None:
    model = ModelInfo(name="m", backend="test", chat_template=SMOL)
    asked = render_messages(model, [{"role": "user", "content": "Weather?"}], tools=[WEATHER],
                            tool_format="generic")
    assert asked.endswith(f"Weather?\n\n{GENERIC_REMINDER}<|im_end|>\n<|im_start|>assistant\n")
    answered = render_messages(model, loop("", parallel=False)[:3], tools=[WEATHER], tool_format="generic")
    assert GENERIC_REMINDER not in answered


def test_without_a_system_role_the_block_opens_the_first_user_turn() -> None:
    out = render_chat_template(stored("gemma-2-it.jinja"), loop(None, parallel=True), tools=TOOLS,
                               **SPECIAL)
    assert out.startswith("<s><start_of_turn>user\nYou can call these tools:\n")
    assert '[{"name": "get_weather", "arguments": {"city": "Paris"}}, {"name": "get_time"' in out
    results = out.split('{"tool_response": ')
    assert len(results) == 3  # both results, in one user turn
    assert '"tool_call_id": "call00002", "content": "RESULT-TWO 10:00"}}' in results[2]


def test_null_content_reaches_a_template_that_knows_calls_as_none() -> None:
    source = "{% for m in messages %}{{ m.content is none }}|{% endfor %}"
    messages = [{"role": "user", "content": "q"}, {"role": "assistant", "content": None,
                                                   "tool_calls": [call("c", "f", "x")]}]
    assert render_chat_template(source, messages).startswith("False|")
    assert ChatMessage.model_validate(messages[1]).to_template_dict()["content"] is None
    assert "content" not in ChatMessage(role="assistant", tool_calls=[call("c", "f", "x")]).to_template_dict()


def test_a_templates_own_refusal_still_raises() -> None:
    bad_ids = [{"role": "user", "content": "q"},
               {"role": "assistant", "content": None, "tool_calls": [call("x", "get_weather", "P")]},
               {"role": "tool", "tool_call_id": "x", "content": "r"}]
    with pytest.raises(TemplateError, match="alphanumeric strings with length 9"):
        render_chat_template(stored("mistral-7b-instruct-v0.3.jinja"), bad_ids, tools=TOOLS, **SPECIAL)


def test_smol_is_the_default_models_template(default_model_template: str) -> None:
    assert default_model_template == SMOL


_text = st.text(st.characters(codec="utf-8", exclude_categories=("Cs",)), max_size=12)


@st.composite
def _tool_loops(draw: st.DrawFn) -> list[dict[str, Any]]:
    """user, then rounds of assistant call(s) (null, empty or text content) and their results."""
    messages: list[dict[str, Any]] = [{"role": "user", "content": "U" + draw(_text)}]
    for round_ in range(draw(st.integers(1, 2))):
        count = draw(st.integers(1, 3))
        ids = [f"call{round_}{i:04d}" for i in range(count)]
        calls = [{"id": i, "type": "function", "function": {
            "name": draw(st.sampled_from(["get_weather", "get_time"])),
            "arguments": draw(st.sampled_from([{"city": "X"}, '{"city": "Y"}', {}, ""]))}} for i in ids]
        messages.append({"role": "assistant", "content": draw(st.sampled_from([None, "", "ok"])),
                         "tool_calls": calls})
        messages += [{"role": "tool", "tool_call_id": i, "content": "R" + draw(_text)} for i in ids]
    return messages


@settings(max_examples=40, deadline=None)
@given(messages=_tool_loops(), tools=st.booleans(),
       label=st.sampled_from(["scripted", "builtin:gemma", "builtin:chatml", "gemma-3-it.jinja",
                              "zephyr-7b-beta.jinja", "smol"]))
def test_any_tool_loop_renders_on_templates_without_tool_support(messages: list[dict[str, Any]],
                                                                 tools: bool, label: str) -> None:
    sources = dict(every_template()) | {"smol": SMOL}
    out = render_chat_template(sources[label], messages, tools=TOOLS if tools else None,
                               tool_format="generic", **SPECIAL)
    for message in messages:
        if message["role"] == "tool":
            assert json.dumps(message["content"], ensure_ascii=False)[1:-1] in out or message["content"] in out
