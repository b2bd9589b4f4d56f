"""Keys cut anywhere while a call streams: in every format that streams its arguments, keys that
are prefixes of each other, non-ASCII keys and escaped quotes in keys come out whole, and the
joined argument deltas are the same JSON however the text is cut.

Derived from vllm-project/vllm tests/tool_parsers/test_functiongemma_tool_parser.py
(test_streamed_arguments_form_valid_json_with_two_keys: a key split across deltas, "ci" + "ty")
and tests/tool_parsers/test_kimi_k2_tool_parser.py (test_incremental_arguments: '{"ci' ...).
"""

from __future__ import annotations

import json
from typing import Any

import pytest
from toolcall_harness import Case, call, check_case, content

ARGS: dict[str, Any] = {"c": "1", "ci": "two", "city": "Paris", "ciudad_ñ": "Bogotá"}
JSON_ARGS: dict[str, Any] = {**ARGS, 'say "hi"': "x", "n": {"ci": [1, 2]}}
D = "｜DSML｜"


def xml(open_fn: str, close_fn: str, param: str, close_param: str) -> str:
    body = "".join(f"{param.format(k)}{v}{close_param}" for k, v in ARGS.items())
    return f"{open_fn}{body}{close_fn}"


BUILDERS = {
    "json": lambda: f'<tool_call>{{"name": "f", "arguments": {json.dumps(JSON_ARGS)}}}</tool_call>',
    "llama3_json": lambda: f'{{"name": "f", "parameters": {json.dumps(JSON_ARGS)}}}',
    "granite": lambda: f'<|tool_call|>[{{"name": "f", "arguments": {json.dumps(JSON_ARGS)}}}]',
    "phi4_mini": lambda: f'functools[{{"name": "f", "arguments": {json.dumps(JSON_ARGS)}}}]',
    "mistral": lambda: f"[TOOL_CALLS]f[ARGS]{json.dumps(JSON_ARGS)}",
    "kimi_k2": lambda: ("<|tool_calls_section_begin|><|tool_call_begin|>functions.f:0"
                        f"<|tool_call_argument_begin|>{json.dumps(JSON_ARGS)}<|tool_call_end|>"
                        "<|tool_calls_section_end|>"),
    "deepseek_v31": lambda: ("<｜tool▁calls▁begin｜><｜tool▁call▁begin｜>f<｜tool▁sep｜>"
                             f"{json.dumps(JSON_ARGS)}<｜tool▁call▁end｜><｜tool▁calls▁end｜>"),
    "harmony": lambda: ("<|channel|>commentary to=functions.f <|constrain|>json<|message|>"
                        f"{json.dumps(JSON_ARGS)}<|call|>"),
    "qwen3_coder": lambda: xml("<tool_call><function=f>", "</function></tool_call>",
                               "<parameter={}>", "</parameter>"),
    "seed_oss": lambda: xml("<seed:tool_call><function=f>", "</function></seed:tool_call>",
                            "<parameter={}>", "</parameter>"),
    "minimax_m2": lambda: xml('<minimax:tool_call><invoke name="f">',
                              "</invoke></minimax:tool_call>", '<parameter name="{}">',
                              "</parameter>"),
    "deepseek_v32": lambda: xml(f'<{D}function_calls><{D}invoke name="f">',
                                f"</{D}invoke></{D}function_calls>",
                                f'<{D}parameter name="{{}}" string="true">', f"</{D}parameter>"),
}


@pytest.mark.parametrize("fmt", sorted(BUILDERS))
def test_keys_cut_anywhere(fmt: str) -> None:
    text = BUILDERS[fmt]()
    xml_format = fmt in ("qwen3_coder", "seed_oss", "minimax_m2", "deepseek_v32")
    expected = ARGS if xml_format else JSON_ARGS  # XML values are text: no nested objects
    check_case(fmt, Case("keys", "Ok. " + text + " done", [
        content("Ok. "), call("f", expected), content(" done")]), random_count=40)
