"""What templates see: messages and tools normalised like transformers (plus OpenAI-style
string arguments decoded), globals, and compiled templates cached by their text."""

from __future__ import annotations

import copy
import datetime

from lmstream import ChatMessage, ToolSpec
from lmstream.pipeline import render_chat_template
from lmstream_templates.context import plain_data
from lmstream_templates.environment import compile_template

ARGS = "{% for c in messages[0].tool_calls %}{{ c.function.arguments | tojson }};{% endfor %}"


def test_openai_string_arguments_are_decoded() -> None:
    calls = [
        {"id": "1", "type": "function", "function": {"name": "f", "arguments": '{"x": [1, 2]}'}},
        {"id": "2", "type": "function", "function": {"name": "g", "arguments": {"y": True}}},
        {"id": "3", "type": "function", "function": {"name": "h", "arguments": "not json"}},
        {"id": "4", "type": "function", "function": {"name": "k", "arguments": "[1]"}},
    ]
    messages = [{"role": "assistant", "tool_calls": calls}]
    original = copy.deepcopy(messages)
    out = render_chat_template(ARGS, messages)
    assert out == '{"x": [1, 2]};{"y": true};"not json";"[1]";'
    assert messages == original  # the caller's messages are not touched


def test_chat_message_and_tool_spec_objects() -> None:
    template = "{{ messages[0].role }}/{{ messages[0].name }}/{{ tools[0].function.name }}/{{ tools | length }}"
    message = ChatMessage(role="user", content="x", name="ann")
    out = render_chat_template(template, [message], tools=[ToolSpec(name="t"), {"name": "u"}])
    assert out == "user/ann/t/2"


def test_none_fields_are_not_defined() -> None:
    template = "{{ messages[0].tool_calls is defined }}|{{ messages[0].name is defined }}"
    assert render_chat_template(template, [{"role": "user", "content": "x", "name": None}]) == \
        "False|False"


def test_reasoning_is_aliased_as_thinking() -> None:
    template = "{{ messages[0].thinking }}|{{ messages[0].reasoning_content }}"
    messages = [{"role": "assistant", "content": "a", "reasoning": "r1"}]
    assert render_chat_template(template, messages) == "r1|r1"


def test_strftime_now_is_today() -> None:
    before = datetime.datetime.now().strftime("%d %b %Y")
    out = render_chat_template('{{ strftime_now("%d %b %Y") }}', [{"role": "user", "content": "x"}])
    after = datetime.datetime.now().strftime("%d %b %Y")
    assert out in (before, after)


def test_dict_and_namespace_globals() -> None:
    template = ("{% set ns = namespace(n=0) %}{% for m in messages %}{% set ns.n = ns.n + 1 %}"
                "{% endfor %}{{ ns.n }}|{{ dict(a=1) | tojson }}|{{ dict.fromkeys(['k']) | tojson }}")
    assert render_chat_template(template, [{"role": "user", "content": "x"}] * 3) == \
        '3|{"a": 1}|{"k": null}'


def test_tojson_keeps_html_and_unicode() -> None:
    template = "{{ messages[0].content | tojson }}|{{ tools | tojson(separators=(',', ':')) }}"
    out = render_chat_template(template, [{"role": "user", "content": "<b>é & \"q\"</b>"}],
                               tools=[{"name": "t"}])
    assert out.startswith('"<b>é & \\"q\\"</b>"|[{"type":"function"')


def test_compiled_templates_are_cached_by_text() -> None:
    template = "cached {{ messages | length }} " + "x" * 10
    render_chat_template(template, [{"role": "user", "content": "x"}])
    hits = compile_template.cache_info().hits
    for _ in range(3):
        render_chat_template(template, [{"role": "user", "content": "y"}])
    assert compile_template.cache_info().hits == hits + 3
    assert compile_template(template) is compile_template(template)


class Color(str):
    """A str subclass (like an enum value) whose extra methods must not reach templates."""

    def shout(self) -> str:
        return self.upper()


def test_plain_data_strips_rich_types() -> None:
    data = {"c": Color("red"), "t": (1, 2.5, True, None), "o": object()}
    plain = plain_data(data)
    assert plain == {"c": "red", "t": (1, 2.5, True, None), "o": "<object>"}
    assert type(plain["c"]) is str
