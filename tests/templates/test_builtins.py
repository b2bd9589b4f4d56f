"""The named built-ins (chatml, llama3, mistral, gemma): exact output for a tool round trip."""

from __future__ import annotations

import pytest

from lmstream import TemplateError
from lmstream.hooks import get_plugin_system
from lmstream.pipeline import render_chat_template
from lmstream_templates import BUILTIN_NAMES, builtin_source

TOOL = {"name": "add", "description": "Add two integers.",
        "parameters": {"type": "object", "properties": {"a": {"type": "integer"},
                                                        "b": {"type": "integer"}}}}
TOOL_JSON = ('{"type": "function", "function": {"name": "add", "description": "Add two integers.", '
             '"parameters": {"type": "object", "properties": {"a": {"type": "integer"}, '
             '"b": {"type": "integer"}}}}}')
ROUND_TRIP = [
    {"role": "system", "content": "Be exact."},
    {"role": "user", "content": "2+3?"},
    {"role": "assistant", "content": "",
     "tool_calls": [{"id": "c1", "type": "function",
                     "function": {"name": "add", "arguments": '{"a": 2, "b": 3}'}}]},
    {"role": "tool", "tool_call_id": "c1", "content": "5"},
]
SPECIAL = {"bos_token": "<s>", "eos_token": "</s>"}

EXPECTED = {
    "chatml": (
        "<|im_start|>system\nBe exact.\n\n# Tools\n\nYou may call one or more functions to assist "
        "with the user query.\n\nYou are provided with function signatures within <tools></tools> "
        f"XML tags:\n<tools>\n{TOOL_JSON}\n</tools>\n\nFor each function call, return a json object "
        "with function name and arguments within <tool_call></tool_call> XML tags:\n<tool_call>\n"
        '{"name": <function-name>, "arguments": <args-json-object>}\n</tool_call><|im_end|>\n'
        "<|im_start|>user\n2+3?<|im_end|>\n"
        '<|im_start|>assistant\n<tool_call>\n{"name": "add", "arguments": {"a": 2, "b": 3}}\n'
        "</tool_call><|im_end|>\n"
        "<|im_start|>user\n<tool_response>\n5\n</tool_response><|im_end|>\n"
        "<|im_start|>assistant\n"
    ),
    "llama3": (
        "<s><|start_header_id|>system<|end_header_id|>\n\nEnvironment: ipython\n\n"
        "You have access to the following functions. To call a function, please respond with JSON "
        'for a function call. Respond in the format {"name": function name, "parameters": '
        "dictionary of argument name and its value}. Do not use variables.\n\n"
        '{\n    "type": "function",\n    "function": {\n        "name": "add",\n'
        '        "description": "Add two integers.",\n        "parameters": {\n'
        '            "type": "object",\n            "properties": {\n'
        '                "a": {\n                    "type": "integer"\n                },\n'
        '                "b": {\n                    "type": "integer"\n                }\n'
        "            }\n        }\n    }\n}\n\n"
        "Be exact.<|eot_id|>"
        "<|start_header_id|>user<|end_header_id|>\n\n2+3?<|eot_id|>"
        '<|start_header_id|>assistant<|end_header_id|>\n\n{"name": "add", "parameters": '
        '{"a": 2, "b": 3}}<|eot_id|>'
        "<|start_header_id|>ipython<|end_header_id|>\n\n5<|eot_id|>"
        "<|start_header_id|>assistant<|end_header_id|>\n\n"
    ),
    "mistral": (
        f"<s>[AVAILABLE_TOOLS] [{TOOL_JSON}][/AVAILABLE_TOOLS][INST] Be exact.\n\n2+3?[/INST]"
        '[TOOL_CALLS] [{"name": "add", "arguments": {"a": 2, "b": 3}, "id": "c1"}]</s>'
        '[TOOL_RESULTS] {"content": "5", "call_id": "c1"}[/TOOL_RESULTS]'
    ),
    "gemma": (
        "<s><start_of_turn>user\nBe exact.\n\nYou have access to the following functions. To call "
        'one, reply with a JSON object {"name": function name, "parameters": dictionary of argument '
        f"name and its value}}, one per line, and nothing else.\n\n{TOOL_JSON}\n\n2+3?<end_of_turn>\n"
        '<start_of_turn>model\n{"name": "add", "parameters": {"a": 2, "b": 3}}<end_of_turn>\n'
        "<start_of_turn>user\n<tool_response>\n5\n</tool_response><end_of_turn>\n"
        "<start_of_turn>model\n"
    ),
}

PLAIN = [{"role": "user", "content": "Hi"}, {"role": "assistant", "content": "Hello."},
         {"role": "user", "content": [{"type": "text", "text": "Bye"}]}]
EXPECTED_PLAIN = {
    "chatml": ("<|im_start|>user\nHi<|im_end|>\n<|im_start|>assistant\nHello.<|im_end|>\n"
               "<|im_start|>user\nBye<|im_end|>\n"),
    "llama3": ("<s><|start_header_id|>user<|end_header_id|>\n\nHi<|eot_id|>"
               "<|start_header_id|>assistant<|end_header_id|>\n\nHello.<|eot_id|>"
               "<|start_header_id|>user<|end_header_id|>\n\nBye<|eot_id|>"),
    "mistral": "<s>[INST] Hi[/INST] Hello.</s>[INST] Bye[/INST]",
    "gemma": ("<s><start_of_turn>user\nHi<end_of_turn>\n<start_of_turn>model\nHello.<end_of_turn>\n"
              "<start_of_turn>user\nBye<end_of_turn>\n"),
}


def test_builtins_are_registered() -> None:
    names = get_plugin_system().chat_templates.names()
    assert {"jinja", *BUILTIN_NAMES} <= set(names)
    assert set(BUILTIN_NAMES) >= {"chatml", "llama3", "mistral", "gemma"}


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_tool_round_trip(name: str) -> None:
    assert render_chat_template(name, ROUND_TRIP, tools=[TOOL], **SPECIAL) == EXPECTED[name]


@pytest.mark.parametrize("name", sorted(EXPECTED_PLAIN))
def test_plain_chat_without_generation_prompt(name: str) -> None:
    out = render_chat_template(name, PLAIN, options={"add_generation_prompt": False}, **SPECIAL)
    assert out == EXPECTED_PLAIN[name]


@pytest.mark.parametrize("name", BUILTIN_NAMES)
def test_builtins_render_through_the_jinja_machinery(name: str, hf_render) -> None:
    """Each built-in is plain HF-style Jinja: transformers renders it identically."""
    source = builtin_source(name)
    expected = hf_render(source, [dict(m) for m in ROUND_TRIP[:2]], add_generation_prompt=True)
    assert render_chat_template(name, ROUND_TRIP[:2], bos_token="<s>", eos_token="</s>",
                                unk_token="<unk>") == expected


@pytest.mark.parametrize("name", BUILTIN_NAMES)
def test_unsupported_content_part_is_refused(name: str) -> None:
    with pytest.raises(TemplateError, match=f"built-in template '{name}'.*{name}: unsupported"):
        render_chat_template(name, [{"role": "user", "content": [{"type": "audio"}]}])


def test_builtin_without_special_tokens_renders_none() -> None:
    assert render_chat_template("llama3", PLAIN[:1]).startswith("<|start_header_id|>user")


def test_unknown_builtin() -> None:
    with pytest.raises(KeyError, match="no built-in template 'vicuna'"):
        builtin_source("vicuna")
