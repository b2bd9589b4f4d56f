"""One well-formed call of every built-in format, as each format's documentation or reference
parser writes it, for the tests that must hold in every format (calls after content, reasoning
blocks, truncation). Imported as ``format_samples`` (conftest.py puts this folder on sys.path).

Sources of the shapes: vllm-project/vllm ``vllm/tool_parsers/*_tool_parser.py`` and
``tests/tool_parsers/test_*_tool_parser.py``, the models' chat templates, and
ggml-org/llama.cpp ``common/chat.cpp``.
"""

from __future__ import annotations

import json

B, E = "<｜tool▁calls▁begin｜>", "<｜tool▁calls▁end｜>"
CB, CE, SEP = "<｜tool▁call▁begin｜>", "<｜tool▁call▁end｜>", "<｜tool▁sep｜>"
DSML = "｜DSML｜"


def sample(fmt: str, city: str) -> str:
    """A call of ``get_weather`` with ``{"city": city}`` in format ``fmt`` (``city``: letters)."""
    args = json.dumps({"city": city})
    call = json.dumps({"name": "get_weather", "arguments": {"city": city}})
    return {
        "json": f"<tool_call>{call}</tool_call>",
        "llama3_json": json.dumps({"name": "get_weather", "parameters": {"city": city}}),
        "pythonic": f'[get_weather(city="{city}")]',
        "lfm2": f"<|tool_call_start|>[get_weather(city='{city}')]<|tool_call_end|>",
        "mistral": f"[TOOL_CALLS]get_weather[ARGS]{args}",
        "qwen3_coder": "<tool_call>\n<function=get_weather>\n<parameter=city>\n"
                       f"{city}\n</parameter>\n</function>\n</tool_call>",
        "seed_oss": "<seed:tool_call>\n<function=get_weather>\n"
                    f"<parameter=city>{city}</parameter>\n</function>\n</seed:tool_call>",
        "glm45": "<tool_call>get_weather\n<arg_key>city</arg_key>\n"
                 f"<arg_value>{city}</arg_value>\n</tool_call>",
        "glm47": f"<tool_call>get_weather<arg_key>city</arg_key><arg_value>{city}</arg_value>"
                 "</tool_call>",
        "deepseek_v3": f"{B}{CB}function{SEP}get_weather\n```json\n{args}\n```{CE}{E}",
        "deepseek_v31": f"{B}{CB}get_weather{SEP}{args}{CE}{E}",
        "deepseek_v32": f"<{DSML}function_calls>\n<{DSML}invoke name=\"get_weather\">\n"
                        f"<{DSML}parameter name=\"city\" string=\"true\">{city}</{DSML}parameter>"
                        f"\n</{DSML}invoke>\n</{DSML}function_calls>",
        "kimi_k2": "<|tool_calls_section_begin|><|tool_call_begin|>functions.get_weather:0"
                   f"<|tool_call_argument_begin|>{args}<|tool_call_end|>"
                   "<|tool_calls_section_end|>",
        "minimax_m2": '<minimax:tool_call>\n<invoke name="get_weather">\n'
                      f'<parameter name="city">{city}</parameter>\n</invoke>\n'
                      "</minimax:tool_call>",
        "gemma4": f'<|tool_call>call:get_weather{{city:<|"|>{city}<|"|>}}<tool_call|>',
        "function_gemma": "<start_function_call>call:get_weather"
                          f"{{city:<escape>{city}<escape>}}<end_function_call>",
        "harmony": "<|channel|>commentary to=functions.get_weather <|constrain|>json"
                   f"<|message|>{args}<|call|>",
        "granite": f"<|tool_call|>[{call}]",
        "phi4_mini": f"functools[{call}]",
    }[fmt]


FORMATS = ("json", "llama3_json", "pythonic", "lfm2", "mistral", "qwen3_coder", "seed_oss",
           "glm45", "glm47", "deepseek_v3", "deepseek_v31", "deepseek_v32", "kimi_k2",
           "minimax_m2", "gemma4", "function_gemma", "harmony", "granite", "phi4_mini")
"""Every built-in format (test_every_format_has_a_sample checks the list is complete)."""

START_MARKERS = {
    "json": "<tool_call>", "lfm2": "<|tool_call_start|>", "qwen3_coder": "<tool_call>",
    "seed_oss": "<seed:tool_call>", "glm45": "<tool_call>", "glm47": "<tool_call>",
    "deepseek_v3": B, "deepseek_v31": B, "deepseek_v32": f"<{DSML}function_calls>",
    "kimi_k2": "<|tool_calls_section_begin|>", "minimax_m2": "<minimax:tool_call>",
    "gemma4": "<|tool_call>", "function_gemma": "<start_function_call>",
    "pythonic": "<|python_start|>",
}
"""The literal start marker of each format whose calls end at an end marker."""
