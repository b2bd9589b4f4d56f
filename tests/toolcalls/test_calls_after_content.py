"""A call after content is a call in every format, also when the content mentions the format's
own start marker (prose explaining the syntax, or a call that lost its end marker).

Derived from vllm-project/vllm tests/tool_parsers/test_glm4_moe_tool_parser.py
("tool_call_with_content_before", "test_extract_tool_calls_mixed_content") and the GLM-4.5-Air
output quoted in ikawrakow/ik_llama.cpp discussion #753 (a call on the same line as the text);
the repeated start marker: a region that meets its own start marker before its end ends there
(vllm-project/vllm vllm/tool_parsers/hermes_tool_parser.py reads each ``<tool_call>`` block up
to the next one or ``</tool_call>``).
"""

from __future__ import annotations

import json

import pytest
from format_samples import FORMATS, START_MARKERS, sample
from toolcall_harness import TOOLS, Case, call, check_case, content, rejected

PARIS = call("get_weather", {"city": "Paris"})
PROSE = ["Sure. ", "Let me check.\n\n", "I'll look: a [b] {c} <d> x=1, f(y). ",
         "a < b; [TOOL and <tool and <| and {\"x\": 1} first: "]


@pytest.mark.parametrize("fmt", FORMATS)
def test_call_after_content(fmt: str) -> None:
    for i, prose in enumerate(PROSE):
        text = prose + sample(fmt, "Paris") + "\nAll set."
        check_case(fmt, Case(f"prose{i}", text, [content(prose), PARIS, content("\nAll set.")],
                             tools=TOOLS), every_split=False, random_count=10)


@pytest.mark.parametrize("fmt", sorted(START_MARKERS))
def test_prose_naming_the_start_marker_then_a_call(fmt: str) -> None:
    marker = START_MARKERS[fmt]
    mention = f"{marker}` opens a call. "
    real = sample(fmt, "Paris")
    if fmt == "pythonic":  # the wrapped form (Llama 4), whose start marker is the mention's
        real = f"<|python_start|>{real}<|python_end|>"
    case = Case("mention", "Note: `" + mention + real + " ok",
                [content("Note: `"), rejected("malformed", mention), PARIS, content(" ok")])
    check_case(fmt, case, every_split=False, random_count=20)


def test_glm45_reference_cases() -> None:
    # vllm-project/vllm tests/tool_parsers/test_glm4_moe_tool_parser.py
    text = ("I'll help you check the weather. <tool_call>get_current_weather\n"
            "    <arg_key>city</arg_key>\n    <arg_value>Seattle</arg_value>\n"
            "    <arg_key>state</arg_key>\n    <arg_value>WA</arg_value>\n    </tool_call>")
    check_case("glm45", Case("content_before", text, [
        content("I'll help you check the weather. "),
        call("get_current_weather", {"city": "Seattle", "state": "WA"})]))
    # ik_llama.cpp discussion #753: GLM-4.5-Air writes the call on the line of its text
    text = ("Let me search for configuration files: <tool_call>ls <arg_key>dirPath</arg_key> "
            "<arg_value>backend</arg_value> </tool_call>")
    check_case("glm45", Case("same_line", text, [
        content("Let me search for configuration files: "), call("ls", {"dirPath": "backend"})]))


def test_hermes_calls_missing_their_end_marker() -> None:
    # two parallel calls, the first without </tool_call>: both are calls
    one = json.dumps({"name": "get_weather", "arguments": {"city": "Paris"}})
    two = json.dumps({"name": "get_weather", "arguments": {"city": "Rome"}})
    text = f"<tool_call>{one}\n<tool_call>{two}</tool_call>"
    check_case("json", Case("missing_end", text, [
        PARIS, call("get_weather", {"city": "Rome"})]))
