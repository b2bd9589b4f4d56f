"""Tool dicts as real clients send them: extra keys kept, handed to templates exactly as given,
type aliases accepted (and used to type values), bogus schemas and unusable names refused at
creation naming the field, Cohere ``parameter_definitions`` passed through, and a template
that does not render tools given them in a system block."""

from __future__ import annotations

import json
import warnings
from typing import Any

import pytest
from pydantic import ValidationError

import lmstream
from lmstream import ToolSpec
from lmstream.pipeline import render_chat_template
from lmstream.pipeline._rendering import ToolsIgnoredWarning

DUMP = "{{ tools | tojson }}"
USER = [{"role": "user", "content": "hi"}]

OPENAI_STRICT = {"type": "function", "function": {
    "name": "get_weather", "strict": True,
    "parameters": {"type": "object", "properties": {"city": {"type": "string"}},
                   "required": ["city"], "additionalProperties": False},
}}
ALIASES = {"name": "measure", "description": "d", "parameters": {
    "type": "object",
    "properties": {"x": {"type": "float"}, "n": {"type": "int"}, "opts": {"type": "dict"},
                   "tags": {"type": "list", "items": {"type": "str"}}},
}}
COHERE = {"name": "search", "description": "Web search.", "parameter_definitions": {
    "query": {"description": "what to look for", "type": "str", "required": True},
    "limit": {"description": "how many", "type": "int", "required": False},
}}


@pytest.mark.parametrize("tool", [OPENAI_STRICT, ALIASES, COHERE, {"name": "bare"},
                                  {"type": "function", "function": {"name": "x", "extra": [1]},
                                   "vendor": {"a": 1}}])
def test_templates_get_the_tool_dict_exactly_as_given(tool: dict[str, Any]) -> None:
    rendered = json.loads(render_chat_template(DUMP, USER, tools=[tool]))
    expected = tool if "function" in tool else {"type": "function", "function": tool}
    assert rendered == [expected]
    assert list(rendered[0]["function"]) == list(expected["function"])  # key order kept
    assert json.dumps(rendered) == json.dumps([expected])


def test_tool_spec_keeps_extra_keys_and_adds_no_empty_description() -> None:
    spec = ToolSpec.model_validate(OPENAI_STRICT)
    assert spec.model_extra == {"strict": True}
    built = ToolSpec(name="t", parameters={"type": "object"}).to_openai()
    assert built == {"type": "function", "function": {"name": "t", "parameters": {"type": "object"}}}
    assert ToolSpec.model_validate(OPENAI_STRICT) == spec


def test_type_aliases_validate_and_type_values() -> None:
    parser = lmstream.get_tool_parser("qwen3_coder", [ALIASES])
    events = parser.feed("<tool_call><function=measure><parameter=x>1.5</parameter>"
                         "<parameter=n>3</parameter><parameter=opts>{\"a\": 1}</parameter>"
                         "<parameter=tags>[\"p\"]</parameter></function></tool_call>")
    events += parser.finish()
    assert [(e.name, e.arguments) for e in events] == [
        ("measure", {"x": 1.5, "n": 3, "opts": {"a": 1}, "tags": ["p"]})]
    bad = lmstream.get_tool_parser("json", [ALIASES])
    events = bad.feed('<tool_call>{"name": "measure", "arguments": {"n": "three"}}</tool_call>')
    assert [type(e).__name__ for e in events] == ["RejectedToolCall"]
    assert events[0].reason == "invalid_arguments"


def test_cohere_parameter_definitions_become_the_schema() -> None:
    spec = ToolSpec.model_validate(COHERE)
    assert spec.parameters == {"type": "object", "required": ["query"], "properties": {
        "query": {"type": "string", "description": "what to look for"},
        "limit": {"type": "integer", "description": "how many"}}}
    assert spec.model_extra == {"parameter_definitions": COHERE["parameter_definitions"]}
    template = "{% for t in tools %}{{ t.function.parameter_definitions.query.type }}{% endfor %}"
    assert render_chat_template(template, USER, tools=[COHERE]) == "str"


@pytest.mark.parametrize(("tool", "field", "words"), [
    ({"name": "x", "parameters": {"type": "object", "properties": {"a": {"type": "bogus"}}}},
     "parameters", "parameters.properties.a.type: unknown type 'bogus'"),
    ({"name": "x", "parameters": {"type": "bogus"}}, "parameters", "parameters.type"),
    ({"name": "has space"}, "name", "'has space'"),
    ({"name": "nul\x00"}, "name", "not usable"),
    ({"name": "n" * 10_000}, "name", "10000 characters"),
    ({"name": "x", "parameter_definitions": {"q": {"type": "bogus"}}}, "", "parameter_definitions.q"),
])
def test_bogus_tools_fail_at_creation_naming_the_field(tool: dict[str, Any], field: str,
                                                        words: str) -> None:
    with pytest.raises(ValidationError) as caught:
        ToolSpec.model_validate(tool)
    assert words in str(caught.value)
    if field:
        assert caught.value.errors()[0]["loc"][0] == field


@pytest.mark.parametrize("name", ["get_weather", "get-weather", "Search2", "github.create_issue",
                                  "fs:read", "a" * 64])
def test_real_tool_names_are_accepted(name: str) -> None:
    assert ToolSpec(name=name).name == name


def test_a_template_that_ignores_tools_gets_them_in_a_system_block() -> None:
    template = "{% for m in messages %}[{{ m.role }}]{{ m.content }}{% endfor %}<!-- ignores tools -->"
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no ToolsIgnoredWarning any more: the tools are shown
        out = render_chat_template(template, USER, tools=[{"name": "t", "description": "d"}])
    assert out.startswith('[system]You can call these tools:\n{"name": "t", "description": "d"')
    assert out.endswith("[user]hi<!-- ignores tools -->")
    assert issubclass(ToolsIgnoredWarning, UserWarning)  # the name stays importable
