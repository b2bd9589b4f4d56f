"""The feed() fast paths keep the slow path's behaviour: plain text straight through, an open
call collecting deltas until its next scan is due (decisions wait for at most 1/GROWTH of the
buffered call), type checks in every state; and the rewritten long-input parsers (DeepSeek-V3's
fenced arguments, Python line offsets) agree with what they replaced."""

from __future__ import annotations

import json
import re

import pytest
from hypothesis import given
from hypothesis import strategies as st
from toolcall_harness import normalize, rebuild, run

import lmstream
from lmstream import Chunk, ToolCall
from lmstream_toolcalls.base import GROWTH
from lmstream_toolcalls.calls import CallSyntaxError
from lmstream_toolcalls.deepseek import SEP, _v3_block
from lmstream_toolcalls.pythonic import _Offsets


class Text(str):
    """A str subclass: accepted like a str (it misses the fast paths)."""


@pytest.mark.parametrize("prefix", ["", "Hello <tool", '<tool_call>{"name": "f", "arguments": {"q": "'])
@pytest.mark.parametrize("bad", [b"bytes", 5, None, ["<tool_call>"]])
def test_a_delta_that_is_not_a_str_is_refused_in_every_state(prefix: str, bad: object) -> None:
    parser = lmstream.get_tool_parser("json")
    parser.feed(prefix + "x" * 5000)  # inside a call: the next scan is far off
    with pytest.raises(TypeError, match="a str"):
        parser.feed(bad)  # type: ignore[arg-type]


def test_str_subclasses_and_empty_deltas_inside_a_call_lose_nothing() -> None:
    text = 'Hi <tool_call>{"name": "f", "arguments": {"q": "' + "ab" * 3000 + '"}}</tool_call> end'
    pieces: list[str] = []
    for i in range(0, len(text), 5):
        pieces += [Text(text[i:i + 5]), ""]
    events, parser = run("json", pieces)
    assert rebuild(events, parser.silent_text) == text
    assert normalize(events) == [("content", "Hi "), ("call", "f", {"q": "ab" * 3000}),
                                 ("content", " end")]


@pytest.mark.parametrize("size", [1_000, 100_000])
def test_a_long_call_is_decided_once_a_growth_step_of_text_follows(size: int) -> None:
    call = '<tool_call>{"name": "f", "arguments": {"q": "' + "x" * size + '"}}</tool_call>'
    parser = lmstream.get_tool_parser("json")
    events = [e for i in range(0, len(call), 4) for e in parser.feed(call[i:i + 4])]
    after = "y" * (len(call) // GROWTH + 8)
    for i in range(0, len(after), 4):
        events += parser.feed(after[i:i + 4])
    assert [type(e) for e in events][:2] == [ToolCall, Chunk], "decided before finish()"
    assert events[0].arguments == {"q": "x" * size}
    events += parser.finish()
    assert "".join(e.text for e in events if isinstance(e, Chunk)) == after


_OLD_V3 = re.compile(r"\s*(?P<type>\w+)\s*" + re.escape(SEP) + r"\s*(?P<name>[^\n`]+?)\s*"
                     r"```(?:json)?\s*(?P<args>.*?)\s*```\s*\Z", re.DOTALL)
_V3_ATOMS = ["function", "fn", SEP, " ", "\n", "```", "`", "json", "{}", '{"a": 1}', "x", "[1]"]


def _old_v3(body: str) -> tuple[object, ...]:
    m = _OLD_V3.match(body)
    if m is None or m.group("type") != "function":
        return ("error",)
    try:
        args = json.loads(m.group("args"))
    except ValueError:
        return ("error",)
    return ("call", m.group("name"), args) if isinstance(args, dict) else ("error",)


def _new_v3(body: str) -> tuple[object, ...]:
    try:
        call = _v3_block(body, (0, len(body)))
    except CallSyntaxError:
        return ("error",)
    return ("call", call.name, call.arguments)


@given(st.lists(st.sampled_from(_V3_ATOMS), max_size=10).map("".join))
def test_deepseek_v3_blocks_read_as_the_lazy_regex_did(body: str) -> None:
    assert _new_v3(body) == _old_v3(body)


@pytest.mark.parametrize("body,expected", [
    (f'function{SEP}f\n```json\n{{"a": 1}}\n```', ("call", "f", {"a": 1})),
    (f'function{SEP}f\n```json\n{{"a": "```"}}\n```  \n', ("call", "f", {"a": "```"})),
    (f'function{SEP}f\n```json\n{{"a": 1}}````', ("error",)),
    (f'function{SEP}f\n```json\n{{"a": 1}}', ("error",)),
    (f"function{SEP}f\n```", ("error",)),
])
def test_deepseek_v3_fence_edges(body: str, expected: tuple[object, ...]) -> None:
    assert _new_v3(body) == _old_v3(body) == expected


@given(st.lists(st.sampled_from(["a", "é", "\r", "\n", "\r\n", "\x0b", "\u2028", "  "]),
                max_size=12).map("".join))
def test_python_line_offsets_split_like_the_tokenizer(source: str) -> None:
    old = re.compile(r"[^\r\n]*(?:\r\n|\r|\n)|[^\r\n]+\Z").findall(source) or [""]
    assert _Offsets(source, 0).lines == old
