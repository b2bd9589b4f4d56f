"""Tool-call markers inside a reasoning block never make a call, in every format.

Derived from vllm-project/vllm tests/tool_parsers/test_seed_oss_tool_parser.py
("tool_call_unlimited_thinking_budget"): Seed-OSS writes the call it plans inside
``<seed:think>…</seed:think>`` and then makes it; the reference parser returns one call and keeps
the reasoning text as content. The same holds for ``<think>`` (Qwen3, DeepSeek, GLM, MiniMax;
vllm-project/vllm tests/tool_parsers/test_glm4_moe_tool_parser.py
"test_extract_tool_calls_with_thinking_tags"), Magistral's ``[THINK]`` and Kimi's ``◁think▷``.
"""

from __future__ import annotations

import pytest
from format_samples import FORMATS, sample
from toolcall_harness import Case, call, check_case, content, run

import lmstream
from lmstream import Chunk, ToolCall

BLOCKS = [("<think>", "</think>"), ("<seed:think>", "</seed:think>")]
"""Every format knows these; Mistral adds Magistral's [THINK], Kimi its ◁think▷."""
FAMILY_BLOCKS = [("mistral", ("[THINK]", "[/THINK]")), ("kimi_k2", ("◁think▷", "◁/think▷"))]
CASES = [(fmt, block) for fmt in FORMATS for block in BLOCKS] + FAMILY_BLOCKS


@pytest.mark.parametrize("fmt,block", CASES, ids=lambda v: v if isinstance(v, str) else v[0])
def test_a_call_inside_reasoning_is_reasoning_text(fmt: str, block: tuple[str, str]) -> None:
    opening, closing = block
    thought = f"{opening}The format is {sample(fmt, 'Oslo')}. Let me call it.{closing}\n"
    case = Case("planned_then_made", thought + sample(fmt, "Paris"),
                [content(thought), call("get_weather", {"city": "Paris"})])
    check_case(fmt, case, every_split=False, random_count=15)


@pytest.mark.parametrize("fmt", FORMATS)
def test_a_block_that_never_closes_is_no_reasoning(fmt: str) -> None:
    # the stream ends inside the block: its calls count (a weak model that writes "<think>"
    # and never closes it must not lose its call); text without calls stays text; the
    # whitespace after the last call is not content
    text = f"<think>maybe {sample(fmt, 'Oslo')} "
    check_case(fmt, Case("unclosed_with_call", text, [
        content("<think>maybe "), call("get_weather", {"city": "Oslo"})]),
        every_split=False, random_count=15)
    check_case(fmt, Case("unclosed_text", "<think>just text", [content("<think>just text")]),
               every_split=False, random_count=5)


def test_seed_oss_reference_example() -> None:
    # vllm-project/vllm tests/tool_parsers/test_seed_oss_tool_parser.py, third case (shortened)
    think = ("<seed:think>\nGot it, let's see. The format is <seed:tool_call>\n<function=get_weather>"
             "\n<parameter=location>Barcelona, Spain</parameter>\n<parameter=unit>celsius"
             "</parameter>\n</function>\n</seed:tool_call>. Let me go with that.</seed:think>")
    real = ("<seed:tool_call>\n<function=get_weather>\n<parameter=location>Barcelona, Spain"
            "</parameter>\n<parameter=unit>celsius</parameter>\n</function>\n</seed:tool_call>")
    check_case("seed_oss", Case("reference", think + real, [
        content(think), call("get_weather", {"location": "Barcelona, Spain", "unit": "celsius"})]),
        every_split=False)


def test_reasoning_text_streams_until_a_call_marker() -> None:
    parser = lmstream.get_tool_parser("json")
    first = parser.feed("<think>planning to ")
    assert [e.text for e in first if isinstance(e, Chunk)] == ["<think>planning to "]
    assert parser.feed("call <tool_call>{\"name\": \"x\"") == [Chunk("call ")]
    assert parser.feed("}</tool_call> ok</th") == []  # held: the block may still close
    rest = parser.feed("ink> done") + parser.finish()
    assert [e.text for e in rest if isinstance(e, Chunk)] == [
        '<tool_call>{"name": "x"}</tool_call> ok</think> done']


def test_calls_after_the_block_still_parse() -> None:
    events, _ = run("json", ["<think>x</think>", sample("json", "Rome"), "<think>y</think>"])
    assert [e.arguments for e in events if isinstance(e, ToolCall)] == [{"city": "Rome"}]
