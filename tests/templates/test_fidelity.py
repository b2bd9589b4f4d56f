"""Fidelity: our ``jinja`` renderer produces exactly what transformers produces for real
templates (the default model's, Qwen2.5, Llama 3.1, Mistral v0.3, Gemma 2 and 3)."""

from __future__ import annotations

import copy
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from lmstream import ChatTemplateOptions, TemplateError
from lmstream.model import ModelInfo
from lmstream.pipeline import render_chat_template, render_messages

SPECIAL = {"bos_token": "<s>", "eos_token": "</s>", "unk_token": "<unk>"}

WEATHER_TOOL = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "description": "Current weather for a city.",
        "parameters": {
            "type": "object",
            "properties": {
                "city": {"type": "string", "description": "City name"},
                "unit": {"type": "string", "enum": ["celsius", "fahrenheit"]},
            },
            "required": ["city"],
        },
    },
}
TIME_TOOL = {
    "type": "function",
    "function": {
        "name": "get_time",
        "description": "Local time in a time zone.",
        "parameters": {"type": "object", "properties": {"zone": {"type": "string"}}},
    },
}
TOOLS = [WEATHER_TOOL, TIME_TOOL]

SYSTEM = {"role": "system", "content": "You are terse. Answer in one line."}
USER_1 = {"role": "user", "content": "Hello! Who are you? (reply with ünïcödé ✓)"}
ASSISTANT_1 = {"role": "assistant", "content": "  I am a small model.  "}
USER_2 = {"role": "user", "content": "What's the weather in Paris, in {{celsius}}?"}
CALL = {
    "role": "assistant",
    "tool_calls": [{
        "id": "call00001",
        "type": "function",
        "function": {"name": "get_weather", "arguments": {"city": "Paris", "unit": "celsius"}},
    }],
}
RESULT = {"role": "tool", "tool_call_id": "call00001", "name": "get_weather",
          "content": '{"temperature": "21 °C", "sky": "clear"}'}
ANSWER = {"role": "assistant", "content": "21 °C and clear."}

CONVERSATIONS: dict[str, list[dict[str, Any]]] = {
    "single": [USER_1],
    "system": [SYSTEM, USER_1],
    "multi_turn": [USER_1, ASSISTANT_1, USER_2],
    "system_multi_turn": [SYSTEM, USER_1, ASSISTANT_1, USER_2],
    "tool_round_trip": [SYSTEM, USER_2, CALL, RESULT],
    "tool_round_trip_answered": [USER_2, CALL, RESULT, ANSWER, USER_1],
}

# Which conversations (and tool lists) each template accepts; the rest must fail the same way
# in both renderers (tested below).
CASES: dict[str, list[tuple[str, bool]]] = {
    "qwen2.5-instruct.jinja": [(c, t) for c in CONVERSATIONS for t in (False, True)],
    "llama-3.1-instruct.jinja": [(c, t) for c in CONVERSATIONS for t in (False, True)],
    "mistral-7b-instruct-v0.3.jinja": [(c, t) for c in CONVERSATIONS for t in (False, True)],
    "gemma-3-it.jinja": [("single", False), ("system", False), ("multi_turn", False),
                         ("system_multi_turn", False)],
    "gemma-2-it.jinja": [("single", False), ("multi_turn", False)],
    "zephyr-7b-beta.jinja": [("single", False), ("system", False), ("multi_turn", False),
                             ("system_multi_turn", False)],
}

PARAMS = [
    pytest.param(template, conversation, tools, gen, id=f"{template}-{conversation}-"
                 f"{'tools' if tools else 'notools'}-{'gen' if gen else 'nogen'}")
    for template, cases in CASES.items()
    for conversation, tools in cases
    for gen in (True, False)
]


@pytest.mark.parametrize(("template", "conversation", "with_tools", "gen"), PARAMS)
def test_stored_template_matches_transformers(stored_template, hf_render, template: str,
                                              conversation: str, with_tools: bool,
                                              gen: bool) -> None:
    source = stored_template(template)
    messages = copy.deepcopy(CONVERSATIONS[conversation])
    tools = TOOLS if with_tools else None
    expected = hf_render(source, copy.deepcopy(messages), tools=copy.deepcopy(tools),
                         add_generation_prompt=gen)
    options = ChatTemplateOptions(add_generation_prompt=gen, template=source)
    model = ModelInfo(name="m", backend="test", special_tokens=SPECIAL)
    ours = render_messages(model, messages, tools=tools, options=options)
    assert ours == expected
    assert ours  # a template that rendered nothing would make the comparison vacuous


def test_every_stored_template_is_covered_and_sourced(template_dir, sources_manifest) -> None:
    stored = {p.name for p in template_dir.glob("*.jinja")}
    assert stored == set(CASES)
    for name in stored:
        entry = sources_manifest[name]
        assert entry["source"].startswith("https://huggingface.co/")
        assert entry["model"]


@pytest.mark.parametrize(("template", "conversation", "with_tools"), [
    ("gemma-2-it.jinja", "system", False),
    ("gemma-2-it.jinja", "tool_round_trip", False),
    ("llama-3.1-instruct.jinja", "parallel_calls", True),
    ("mistral-7b-instruct-v0.3.jinja", "bad_call_id", True),
    ("mistral-7b-instruct-v0.3.jinja", "not_alternating", False),
])
def test_template_refusals_match_transformers(stored_template, hf_render, template: str,
                                              conversation: str, with_tools: bool) -> None:
    """Where transformers fails through the template's raise_exception, we raise TemplateError
    carrying the same message, and naming the template. (A tool loop on a template that does
    not know tools is rewritten instead: tests/templates/test_tool_loops.py.)"""
    extra = {
        "parallel_calls": [USER_2, {**CALL, "tool_calls": CALL["tool_calls"] * 2}, RESULT],
        "bad_call_id": [USER_2, {**CALL, "tool_calls": [{**CALL["tool_calls"][0], "id": "x"}]},
                        {**RESULT, "tool_call_id": "x"}],
        "not_alternating": [USER_1, USER_2],
    }
    messages = extra.get(conversation) or CONVERSATIONS[conversation]
    source = stored_template(template)
    tools = TOOLS if with_tools else None
    with pytest.raises(Exception) as reference:  # jinja2's TemplateError inside transformers
        hf_render(source, copy.deepcopy(messages), tools=tools)
    with pytest.raises(TemplateError) as ours:
        render_chat_template(source, messages, tools=tools, **SPECIAL)
    assert str(reference.value) in str(ours.value)
    assert str(ours.value).startswith("template string: the template raised an exception")


@pytest.mark.parametrize("conversation", ["single", "system", "multi_turn", "system_multi_turn"])
@pytest.mark.parametrize("gen", [True, False])
def test_default_model_template_matches_transformers(default_model_template, hf_render,
                                                     conversation: str, gen: bool) -> None:
    messages = CONVERSATIONS[conversation]
    expected = hf_render(default_model_template, copy.deepcopy(messages),
                         add_generation_prompt=gen)
    model = ModelInfo(name="SmolLM2-135M-Instruct", backend="test",
                      chat_template=default_model_template, special_tokens=SPECIAL)
    ours = render_messages(model, messages, options=ChatTemplateOptions(add_generation_prompt=gen))
    assert ours == expected
    assert "<|im_start|>" in ours


def test_apply_chat_template_path_with_named_templates(hf_tokenizer, stored_template) -> None:
    """transformers' full apply_chat_template (template dict, special tokens from the tokenizer)
    against render_messages on a ModelInfo holding the same templates."""
    templates = {"default": stored_template("gemma-3-it.jinja"),
                 "tool_use": stored_template("qwen2.5-instruct.jinja")}
    tokenizer = hf_tokenizer(templates)
    model = ModelInfo(name="two-templates", backend="test", chat_template=templates,
                      special_tokens=SPECIAL)
    for messages, tools in ((CONVERSATIONS["system_multi_turn"], None),
                            (CONVERSATIONS["tool_round_trip"], TOOLS)):
        for gen in (True, False):
            expected = tokenizer.apply_chat_template(
                copy.deepcopy(messages), tools=copy.deepcopy(tools), tokenize=False,
                add_generation_prompt=gen,
            )
            ours = render_messages(model, messages, tools=tools,
                                   options=ChatTemplateOptions(add_generation_prompt=gen))
            assert ours == expected
            assert ("<tools>" in ours) == (tools is not None)


WHITESPACE_TEMPLATE = """\
{% for m in messages %}
    {% if m.role == 'user' %}
  [{{ m.content }}]
    {% else %}
  {% generation %}({{ m.content }}){% endgeneration %}   {# comment #}
    {% endif %}
{% endfor %}
    {%+ if add_generation_prompt %}GO{% endif %}

"""


def test_whitespace_control_matches_transformers(hf_render) -> None:
    """trim_blocks, lstrip_blocks, '+' overrides, the trailing newline and the {% generation %}
    tag, as transformers."""
    messages = CONVERSATIONS["multi_turn"]
    for gen in (True, False):
        expected = hf_render(WHITESPACE_TEMPLATE, copy.deepcopy(messages), add_generation_prompt=gen)
        ours = render_chat_template(WHITESPACE_TEMPLATE, messages,
                                    options={"add_generation_prompt": gen})
        assert ours == expected
        assert ours.startswith("  [Hello!")


VARIABLES_TEMPLATE = (
    "{{ bos_token }}{% if enable_thinking is defined %}[thinking={{ enable_thinking }}]{% endif %}"
    "{% for d in documents or [] %}<doc {{ d.title }}>{{ d.text }}</doc>{% endfor %}"
    "{% for m in messages %}{{ m.role }}:{{ m.content | tojson(indent=2, sort_keys=true) }}"
    "{% if m.reasoning_content %}<think>{{ m.thinking }}|{{ m.reasoning_content }}</think>{% endif %}"
    "{% if loop.index > 2 %}{% break %}{% endif %}{% endfor %}{{ greeting }}\n"
)


@pytest.mark.parametrize("thinking", [None, True, False])
def test_variables_match_transformers(hf_render, thinking: bool | None) -> None:
    """enable_thinking (only when set), documents, extra_context, reasoning aliases, tojson
    keyword arguments, loop controls and the dropped trailing newline, as transformers does."""
    messages = [
        {"role": "user", "content": [{"type": "text", "text": "b"}, {"type": "text", "text": "a"}]},
        {"role": "assistant", "content": "ok", "reasoning_content": "hmm"},
        {"role": "user", "content": "again"},
        {"role": "user", "content": "never rendered (loop break)"},
    ]
    documents = [{"title": "T", "text": "body"}]
    variables: dict[str, Any] = {"greeting": "bye"}
    if thinking is not None:
        variables["enable_thinking"] = thinking
    expected = hf_render(VARIABLES_TEMPLATE, copy.deepcopy(messages), documents=documents,
                         **variables)
    options = ChatTemplateOptions(enable_thinking=thinking, documents=documents,
                                  extra_context={"greeting": "bye"})
    ours = render_chat_template(VARIABLES_TEMPLATE, messages, options=options, **SPECIAL)
    assert ours == expected
    assert ("[thinking=" in ours) == (thinking is not None)


_text = st.text(st.characters(codec="utf-8", exclude_categories=("Cs",)), max_size=40)


@st.composite
def _conversations(draw: st.DrawFn) -> list[dict[str, Any]]:
    messages = []
    if draw(st.booleans()):
        messages.append({"role": "system", "content": draw(_text)})
    for _ in range(draw(st.integers(1, 3))):
        messages.append({"role": "user", "content": draw(_text)})
        messages.append({"role": "assistant", "content": draw(_text)})
    if draw(st.booleans()):
        messages.pop()
    return messages


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(messages=_conversations(), gen=st.booleans(), tools=st.booleans())
def test_random_conversations_match_transformers(stored_template, hf_render, messages, gen,
                                                 tools) -> None:
    """Arbitrary text (Jinja-looking braces, quotes, unicode) renders literally and equals
    transformers' output for the Qwen2.5 and Llama 3.1 templates."""
    for name in ("qwen2.5-instruct.jinja", "llama-3.1-instruct.jinja"):
        source = stored_template(name)
        tool_list = TOOLS if tools and messages[-1]["role"] == "user" else None
        if tool_list is not None and name.startswith("llama") and len(messages) < 2:
            tool_list = None
        try:
            expected = hf_render(source, copy.deepcopy(messages), tools=tool_list,
                                 add_generation_prompt=gen)
        except Exception as reference:
            with pytest.raises(TemplateError) as ours:
                render_chat_template(source, messages, tools=tool_list,
                                     options={"add_generation_prompt": gen}, **SPECIAL)
            assert str(reference) in str(ours.value)
            continue
        assert render_chat_template(source, messages, tools=tool_list,
                                    options={"add_generation_prompt": gen}, **SPECIAL) == expected
