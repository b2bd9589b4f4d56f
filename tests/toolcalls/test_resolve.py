"""Parser selection: tool_parser_type > chat-template markers > model type; built-in resolver
runs last so a third-party resolver wins; None when nothing fits."""

from __future__ import annotations

from typing import Any

import pytest

import lmstream
from lmstream import ModelInfo
from lmstream_toolcalls import plugin as builtin_plugin
from lmstream_toolcalls.resolve import resolve


def model(chat_template: Any = None, model_type: str | None = None, **config: Any) -> ModelInfo:
    return ModelInfo(name="m", backend="test", model_type=model_type, chat_template=chat_template,
                     tokenizer_config=config)


# Fragments of the families' public chat templates (what the resolver looks for).
TEMPLATES = {
    "{{- '<|start|>assistant<|channel|>' }} ... to=functions. ... <|call|>": "harmony",
    "{{ '<minimax:tool_call>' }}": "minimax_m2",
    "<|tool_call>call:{{ name }}{...}<tool_call|>": "gemma4",
    "<start_function_call>call:": "function_gemma",
    "<seed:tool_call>\n<function=": "seed_oss",
    "<｜DSML｜function_calls>": "deepseek_v32",
    "'<｜tool▁calls▁begin｜><｜tool▁call▁begin｜>' + tool['type'] + '<｜tool▁sep｜>' + name + '\\n' + '```json'":
        "deepseek_v3",
    "'<｜tool▁calls▁begin｜><｜tool▁call▁begin｜>' + name + '<｜tool▁sep｜>' + arguments": "deepseek_v31",
    "<|tool_calls_section_begin|>": "kimi_k2",
    "<tool_call>{{ tc.name }}\n<arg_key>{{ k }}</arg_key>\n<arg_value>{{ v }}</arg_value>\n": "glm45",
    "<tool_call>{{ tc.name }}<arg_key>{{ k }}</arg_key><arg_value>{{ v }}</arg_value>": "glm47",
    "<tool_call>\n<function={{ name }}>\n<parameter=": "qwen3_coder",
    "<|tool_call_start|>[": "lfm2",
    "<|python_start|>": "pythonic",
    "[TOOL_CALLS] [": "mistral",
    "<|tool_call|>": "granite",
    "functools[": "phi4_mini",
    "<|python_tag|>": "llama3_json",
    '<tool_call>\n{"name": {{ tool_call.name }}, "arguments": ...}\n</tool_call>': "json",
}


@pytest.mark.parametrize(("template", "name"), TEMPLATES.items())
def test_chat_template_markers(template: str, name: str) -> None:
    assert resolve({}, template, None) == name


def test_named_templates_prefer_tool_use() -> None:
    templates = {"default": "<|im_start|>", "tool_use": "<tool_call>\n<function=x>\n</tool_call>"}
    assert resolve({}, templates, None) == "qwen3_coder"


@pytest.mark.parametrize(("value", "name"), [
    ("json_tools", "json"), ("hermes", "json"), ("qwen3_coder", "qwen3_coder"),
    ("function_gemma", "function_gemma"), ("Kimi-K2", "kimi_k2"), ("openai", "harmony"),
    ("llama4_pythonic", "pythonic"), ("phi4_mini_json", "phi4_mini"),
])
def test_tool_parser_type_names_of_mlx_lm_and_vllm(value: str, name: str) -> None:
    assert resolve({"tool_parser_type": value}, "<tool_call>", None) == name


def test_unknown_tool_parser_type_falls_through_to_the_template() -> None:
    assert resolve({"tool_parser_type": "nonsense"}, "[TOOL_CALLS]", None) == "mistral"


def test_model_type_is_the_last_resort_and_none_when_nothing_fits() -> None:
    assert resolve({}, "<|im_start|>{{ m.content }}", "gpt_oss") == "harmony"
    assert resolve({}, None, "qwen3") == "json"
    assert resolve({}, "<|im_start|>{{ m.content }}", "llama") is None
    assert resolve({}, None, None) is None


def fresh_system(*plugins: tuple[object, str]) -> lmstream.PluginSystem:
    system = lmstream.PluginSystem(load_entry_points=False)
    system.register(builtin_plugin, name="toolcalls")
    for plugin, name in plugins:
        system.register(plugin, name=name)
    return system


class ThirdParty:
    """A resolver without trylast: it runs before the built-in one."""

    def __init__(self, answer: str | None) -> None:
        self.answer = answer

    @lmstream.hookimpl
    def lmstream_resolve_tool_parser(self, model: ModelInfo) -> str | None:
        return self.answer


def test_hook_uses_the_builtin_resolver() -> None:
    system = fresh_system()
    assert system.resolve_tool_parser(model("<tool_call>")) == "json"
    assert system.resolve_tool_parser(model("<|im_start|>")) is None


def test_a_third_party_resolver_wins_over_the_builtin_one() -> None:
    system = fresh_system((ThirdParty("mine"), "third-party"))
    assert system.resolve_tool_parser(model("<tool_call>", tool_parser_type="json")) == "mine"


def test_a_third_party_resolver_that_abstains_lets_the_builtin_decide() -> None:
    system = fresh_system((ThirdParty(None), "third-party"))
    assert system.resolve_tool_parser(model("[TOOL_CALLS]")) == "mistral"
