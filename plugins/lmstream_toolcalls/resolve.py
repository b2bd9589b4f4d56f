"""Which built-in parser fits a model: its tokenizer config's ``tool_parser_type``, then the
markers its chat template writes, then its model type. None when nothing fits.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from .catalog import FORMATS

ALIASES: dict[str, str] = {
    # mlx-lm's tool_parser_type names
    "json_tools": "json",
    "function_gemma": "function_gemma",
    # vLLM / SGLang parser names
    "hermes": "json",
    "qwen": "json",
    "qwen25": "json",
    "qwen3": "json",
    "qwen3_xml": "qwen3_coder",
    "llama3": "llama3_json",
    "llama4_json": "llama3_json",
    "llama4_pythonic": "pythonic",
    "glm4_moe": "glm45",
    "glm": "glm45",
    "kimi": "kimi_k2",
    "minimax": "minimax_m2",
    "deepseekv3": "deepseek_v3",
    "deepseekv31": "deepseek_v31",
    "deepseekv32": "deepseek_v32",
    "openai": "harmony",
    "gpt_oss": "harmony",
    "gemma": "gemma4",
    "phi4_mini_json": "phi4_mini",
    "phi4": "phi4_mini",
    "seed": "seed_oss",
}

TemplateTest = Callable[[str], bool]


def _has(*markers: str) -> TemplateTest:
    return lambda template: all(m in template for m in markers)


def _glm(template: str) -> str:
    newline = "</arg_key>\n<arg_value>" in template or "</arg_key>\\n<arg_value>" in template
    return "glm45" if newline else "glm47"


def _deepseek(template: str) -> str:
    return "deepseek_v3" if "```json" in template else "deepseek_v31"


# Most specific first: several families share <tool_call>.
TEMPLATE_MARKERS: list[tuple[TemplateTest, str | Callable[[str], str]]] = [
    (_has("<|channel|>", "<|call|>"), "harmony"),
    (_has("<minimax:tool_call>"), "minimax_m2"),
    (_has("<|tool_call>", "<tool_call|>"), "gemma4"),
    (_has("<start_function_call>"), "function_gemma"),
    (_has("<seed:tool_call>"), "seed_oss"),
    (_has("｜DSML｜"), "deepseek_v32"),
    (_has("<｜tool▁calls▁begin｜>"), _deepseek),
    (_has("<|tool_calls_section_begin|>"), "kimi_k2"),
    (_has("<arg_key>"), _glm),
    (lambda t: "<tool_call>" in t and "<function=" in t, "qwen3_coder"),
    (_has("<|tool_call_start|>"), "lfm2"),
    (_has("<|python_start|>"), "pythonic"),
    (_has("[TOOL_CALLS]"), "mistral"),
    (_has("<|tool_call|>"), "granite"),
    (_has("functools["), "phi4_mini"),
    (_has("<|python_tag|>"), "llama3_json"),
    (_has("<tool_call>"), "json"),
]

MODEL_TYPES: dict[str, str] = {
    "gpt_oss": "harmony",
    "qwen2": "json",
    "qwen2_moe": "json",
    "qwen3": "json",
    "qwen3_moe": "json",
    "llama4": "pythonic",
    "lfm2": "lfm2",
    "lfm2_moe": "lfm2",
    "mistral3": "mistral",
    "ministral": "mistral",
    "glm4_moe": "glm45",
    "deepseek_v3": "deepseek_v3",
    "deepseek_v32": "deepseek_v32",
    "kimi_k2": "kimi_k2",
    "minimax_m2": "minimax_m2",
    "gemma4": "gemma4",
    "seed_oss": "seed_oss",
    "granite": "granite",
    "granitemoe": "granite",
}


def normalize(name: Any) -> str | None:
    """A registered built-in name for a ``tool_parser_type`` value (ours, mlx-lm's or vLLM's)."""
    if not isinstance(name, str):
        return None
    key = name.strip().lower().replace("-", "_")
    key = ALIASES.get(key, key)
    return key if key in FORMATS else None


def _templates(chat_template: str | Mapping[str, str] | None) -> list[str]:
    if isinstance(chat_template, str):
        return [chat_template]
    if isinstance(chat_template, Mapping):
        named = [chat_template.get("tool_use")]
        named += [t for k, t in chat_template.items() if k != "tool_use"]
        return [t for t in named if isinstance(t, str)]
    return []


def from_template(chat_template: str | Mapping[str, str] | None) -> str | None:
    """The format whose markers the chat template writes."""
    for template in _templates(chat_template):
        for test, result in TEMPLATE_MARKERS:
            if test(template):
                return result if isinstance(result, str) else result(template)
    return None


def resolve(tokenizer_config: Mapping[str, Any], chat_template: str | Mapping[str, str] | None,
            model_type: str | None) -> str | None:
    """tool_parser_type > chat-template markers > model type; None when nothing fits."""
    return (normalize(tokenizer_config.get("tool_parser_type"))
            or from_template(chat_template)
            or MODEL_TYPES.get((model_type or "").lower()))
