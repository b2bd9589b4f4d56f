"""Property tests: random text mixed with random marker fragments never makes a parser raise,
never loses a character, and gives the same events however it is cut (argument deltas on or
off; with them on, the delta contract holds and the joined deltas do not depend on the cut)."""

from __future__ import annotations

from itertools import pairwise

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from toolcall_harness import TOOLS, check_deltas, normalize, rebuild, run

import lmstream
from lmstream import ToolCallDelta

JSON_BITS = ['{"name": "search", "arguments": ', '{"q": "a"}', "}", "{", '"', "\\", "[", "]",
             ",", ":", ";", '"name"', '"parameters": {}', "\n", " ", "true", "null", "1"]
FRAGMENTS: dict[str, list[str]] = {
    "generic": ['{"name"', '[{"name": ', '{"tool_calls": [', '{"tool_call": ', '"arguments": '],
    "json": ["<tool_call>", "</tool_call>", "<tool_"],
    "llama3_json": ["<|python_tag|>", '{"name"', '{"type": "function", ', "; "],
    "pythonic": ["[search(", "q=", "'", "'''", ")", "<|python_start|>", "<|python_end|>", "f()"],
    "lfm2": ["<|tool_call_start|>", "<|tool_call_end|>", "[search(q='x')]", "'", "("],
    "mistral": ["[TOOL_CALLS]", "[ARGS]", "[CALL_ID]", "search", "[TOOL_"],
    "qwen3_coder": ["<tool_call>", "</tool_call>", "<function=search>", "</function>",
                    "<parameter=q>", "</parameter>"],
    "seed_oss": ["<seed:tool_call>", "</seed:tool_call>", "<function=search>", "</function>",
                 "<parameter=q>", "</parameter>"],
    "glm45": ["<tool_call>", "</tool_call>", "search", "<arg_key>", "</arg_key>", "<arg_value>",
              "</arg_value>"],
    "glm47": ["<tool_call>", "</tool_call>", "search", "<arg_key>q</arg_key>", "<arg_value>",
              "</arg_value>"],
    "deepseek_v3": ["<｜tool▁calls▁begin｜>", "<｜tool▁calls▁end｜>", "<｜tool▁call▁begin｜>",
                    "<｜tool▁call▁end｜>", "function<｜tool▁sep｜>search\n```json\n", "\n```"],
    "deepseek_v31": ["<｜tool▁calls▁begin｜>", "<｜tool▁calls▁end｜>", "<｜tool▁call▁begin｜>",
                     "<｜tool▁call▁end｜>", "search<｜tool▁sep｜>"],
    "deepseek_v32": ["<｜DSML｜function_calls>", "</｜DSML｜function_calls>",
                     '<｜DSML｜invoke name="search">', "</｜DSML｜invoke>",
                     '<｜DSML｜parameter name="q" string="true">', "</｜DSML｜parameter>"],
    "kimi_k2": ["<|tool_calls_section_begin|>", "<|tool_calls_section_end|>",
                "<|tool_call_begin|>", "<|tool_call_end|>", "functions.search:0",
                "<|tool_call_argument_begin|>"],
    "minimax_m2": ["<minimax:tool_call>", "</minimax:tool_call>", '<invoke name="search">',
                   "</invoke>", '<parameter name="q">', "</parameter>"],
    "gemma4": ["<|tool_call>", "<tool_call|>", "call:search{", "q:", '<|"|>', "}"],
    "function_gemma": ["<start_function_call>", "<end_function_call>", "call:search{", "q:",
                       "<escape>", "}"],
    "harmony": ["<|start|>assistant", "<|channel|>", "analysis", "final", "commentary",
                " to=functions.search", "<|constrain|>json", "<|message|>", "<|end|>",
                "<|call|>", "<|return|>", "<|"],
    "granite": ["<|tool_call|>", "<|tool_", "[", "]"],
    "phi4_mini": ["functools[", "functools", "]"],
}


def test_every_registered_builtin_has_fragments() -> None:
    builtin = {n for n in lmstream.get_plugin_system().tool_parsers.names()
               if lmstream.get_plugin_system().tool_parsers.owner(n) == "toolcalls"}
    assert builtin == set(FRAGMENTS)


REASONING_BITS = ["<think>", "</think>", "<seed:think>", "</seed:think>", "[THINK]", "[/THINK]",
                  "◁think▷", "◁/think▷"]
"""Reasoning-block markers (text in a block never makes a call; [THINK] is Mistral's and
◁think▷ Kimi's, plain text elsewhere)."""


def _pieces(name: str) -> st.SearchStrategy[str]:
    markers = FRAGMENTS[name] + REASONING_BITS
    fragment = st.sampled_from(markers).flatmap(
        lambda m: st.tuples(st.integers(0, len(m)), st.integers(0, len(m))).map(
            lambda ab: m[min(ab):max(ab)]))
    return st.one_of(
        st.sampled_from(markers),
        st.sampled_from(JSON_BITS),
        fragment,
        st.text(alphabet="ab <|>[]{}()\"'\\:=,;\n.é", max_size=6),
    )


def _texts(name: str) -> st.SearchStrategy[str]:
    return st.lists(_pieces(name), max_size=30).map("".join)


@pytest.mark.parametrize("name", sorted(FRAGMENTS))
@pytest.mark.parametrize("with_tools", [False, True])
def test_never_raises_never_loses_text_and_ignores_cuts(name: str, with_tools: bool) -> None:
    tools = TOOLS if with_tools else None

    @settings(max_examples=60, deadline=None, derandomize=True,
              suppress_health_check=[HealthCheck.too_slow])
    @given(text=_texts(name), cuts=st.lists(st.integers(0, 400), max_size=12))
    def check(text: str, cuts: list[int]) -> None:
        whole_events, whole_parser = run(name, [text], tools)
        assert rebuild(whole_events, whole_parser.silent_text) == text
        expected = normalize(whole_events)
        bounds = sorted({0, len(text), *(c % (len(text) + 1) for c in cuts)})
        pieces = [text[a:b] for a, b in pairwise(bounds)]
        for cutting in (pieces, list(text)):
            events, parser = run(name, cutting, tools)
            assert rebuild(events, parser.silent_text) == text
            assert normalize(events) == expected, f"cut {cutting!r}"
        streamed = None
        for cutting in ([text], pieces, list(text)):  # argument deltas on: same events, contract
            events, parser = run(name, cutting, tools, deltas=True)
            assert rebuild(events, parser.silent_text) == text
            assert normalize([e for e in events if not isinstance(e, ToolCallDelta)]) == expected
            signature = check_deltas(events)
            assert signature == (streamed if streamed is not None else signature), f"cut {cutting!r}"
            streamed = signature

    check()
