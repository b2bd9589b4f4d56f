"""ToolCallDelta argument streaming: every format streams (or sends whole) its calls' arguments,
deltas never run ahead of the text, rejected calls end with their index, and the deltas reach
``lmstream.generate`` on the scripted backend with ``stream_tool_calls``.

The chunking harness (``check_case``) checks the contract for every case of every format; the
tests here pin what the harness cannot see: *when* deltas come out.
"""

from __future__ import annotations

import json
from itertools import pairwise
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from toolcall_harness import TOOLS, check_deltas, run

import lmstream
from lmstream import RejectedToolCall, ToolCall, ToolCallDelta
from lmstream.hooks import with_deltas

SECRET = "ABCDEFGHIJKLMNOP"
"""A string argument with distinct letters: what was streamed shows how far the parser read."""


def hermes(name: str, args: dict[str, Any]) -> str:
    return f"<tool_call>\n{json.dumps({'name': name, 'arguments': args})}\n</tool_call>"


def qwen(name: str, args: dict[str, Any]) -> str:
    params = "".join(f"<parameter={k}>\n{v}\n</parameter>\n" for k, v in args.items())
    return f"<tool_call>\n<function={name}>\n{params}</function>\n</tool_call>"


def minimax(name: str, args: dict[str, Any]) -> str:
    params = "".join(f'<parameter name="{k}">{v}</parameter>' for k, v in args.items())
    return f'<minimax:tool_call><invoke name="{name}">{params}</invoke></minimax:tool_call>'


def dsml(name: str, args: dict[str, Any]) -> str:
    d = "｜DSML｜"
    params = "".join(f'<{d}parameter name="{k}" string="{str(isinstance(v, str)).lower()}">'
                     f'{v if isinstance(v, str) else json.dumps(v)}</{d}parameter>'
                     for k, v in args.items())
    return f'<{d}function_calls><{d}invoke name="{name}">{params}</{d}invoke></{d}function_calls>'


STREAMING: dict[str, Any] = {
    "json": hermes,
    "llama3_json": lambda n, a: "<|python_tag|>" + json.dumps({"name": n, "parameters": a}),
    "granite": lambda n, a: "<|tool_call|>" + json.dumps([{"name": n, "arguments": a}]),
    "phi4_mini": lambda n, a: "functools" + json.dumps([{"name": n, "arguments": a}]),
    "mistral": lambda n, a: f"[TOOL_CALLS]{n}[ARGS]{json.dumps(a)}",
    "kimi_k2": lambda n, a: ("<|tool_calls_section_begin|><|tool_call_begin|>functions."
                             f"{n}:0<|tool_call_argument_begin|>{json.dumps(a)}"
                             "<|tool_call_end|><|tool_calls_section_end|>"),
    "deepseek_v31": lambda n, a: ("<｜tool▁calls▁begin｜><｜tool▁call▁begin｜>"
                                  f"{n}<｜tool▁sep｜>{json.dumps(a)}<｜tool▁call▁end｜>"
                                  "<｜tool▁calls▁end｜>"),
    "harmony": lambda n, a: (f"<|channel|>commentary to=functions.{n} <|constrain|>json"
                             f"<|message|>{json.dumps(a)}<|call|>"),
    "qwen3_coder": qwen,
    "seed_oss": lambda n, a: qwen(n, a).replace("tool_call>", "seed:tool_call>"),
    "minimax_m2": minimax,
    "deepseek_v32": dsml,
}
"""Formats that stream arguments while the call is generated, and how they write a call."""

WHOLE = {
    "pythonic": f"[search(q='{SECRET}')]",
    "lfm2": f"<|tool_call_start|>[search(q='{SECRET}')]<|tool_call_end|>",
    "glm47": f"<tool_call>search<arg_key>q</arg_key><arg_value>{SECRET}</arg_value></tool_call>",
    "gemma4": f'<|tool_call>call:search{{q:<|"|>{SECRET}<|"|>}}<tool_call|>',
    "function_gemma": f"<start_function_call>call:search{{q:<escape>{SECRET}<escape>}}"
                      "<end_function_call>",
    "deepseek_v3": ("<｜tool▁calls▁begin｜><｜tool▁call▁begin｜>function<｜tool▁sep｜>search\n"
                    f'```json\n{{"q": "{SECRET}"}}\n```<｜tool▁call▁end｜><｜tool▁calls▁end｜>'),
}
"""Formats whose calls are sent as one delta when parsed (their values need the whole call)."""


def feed_each(name: str, text: str, tools: Any = TOOLS) -> list[list[Any]]:
    """Events after each character, with deltas on (the last list: finish())."""
    parser = lmstream.get_tool_parser(name, tools)
    parser.stream_deltas(True)
    steps = [parser.feed(char) for char in text]
    return [*steps, parser.finish()]


def joined_before(steps: list[list[Any]], count: int) -> str:
    """The joined argument text emitted by the first ``count`` feeds."""
    return "".join(e.arguments_delta for step in steps[:count] for e in step
                   if isinstance(e, ToolCallDelta))


@pytest.mark.parametrize("name", sorted(STREAMING))
def test_arguments_stream_as_generated_and_never_run_ahead(name: str) -> None:
    text = STREAMING[name]("search", {"q": SECRET, "limit": 3})
    steps = feed_each(name, text)
    for cut in range(1, len(SECRET)):
        at = text.index(SECRET) + cut  # fed: the secret's first `cut` letters
        sent = joined_before(steps, at)
        assert SECRET[:cut - 1] in sent, f"{name}: {SECRET[:cut - 1]!r} not streamed: {sent!r}"
        assert SECRET[cut] not in sent, f"{name}: ran ahead of the text: {sent!r}"
    first = next(e for step in steps for e in step if isinstance(e, ToolCallDelta))
    assert (first.index, first.name) == (0, "search") and first.id
    events = [e for step in steps for e in step]
    assert check_deltas(events) == [(0, "search", check_deltas(events)[0][2], "call")]
    call = next(e for e in events if isinstance(e, ToolCall))
    assert call.arguments == {"q": SECRET, "limit": 3} and call.id == first.id


@pytest.mark.parametrize("name", sorted(WHOLE))
def test_other_formats_send_the_call_whole_when_parsed(name: str) -> None:
    steps = feed_each(name, WHOLE[name])
    events = [e for step in steps for e in step]
    deltas = [e for e in events if isinstance(e, ToolCallDelta)]
    assert len(deltas) == 1 and json.loads(deltas[0].arguments_delta) == {"q": SECRET}
    assert events.index(deltas[0]) + 1 == next(i for i, e in enumerate(events)
                                               if isinstance(e, ToolCall))


@pytest.mark.parametrize("name", sorted(STREAMING))
def test_invalid_call_after_deltas_is_rejected_with_its_index(name: str) -> None:
    first = STREAMING[name]("search", {"q": "ok"})
    second = STREAMING[name]("search", {"q": SECRET, "limit": "many"})  # limit must be integer
    events, _ = run(name, list(first + second), TOOLS, deltas=True)
    ends = check_deltas(events)
    assert [(i, end) for i, _n, _t, end in ends] == [(0, "call"), (1, "rejected")]
    rejected = next(e for e in events if isinstance(e, RejectedToolCall))
    assert rejected.reason == "invalid_arguments" and rejected.index == 1
    assert SECRET in ends[1][2]


@pytest.mark.parametrize("name", ["json", "qwen3_coder", "kimi_k2", "mistral"])
def test_undeclared_tool_is_never_streamed(name: str) -> None:
    events, _ = run(name, list(STREAMING[name]("rm", {"path": "/"})), TOOLS, deltas=True)
    assert not any(isinstance(e, ToolCallDelta) for e in events)
    rejected = [e for e in events if isinstance(e, RejectedToolCall)]
    assert [(r.reason, r.index) for r in rejected] == [("undeclared_tool", None)]


def test_unclosed_call_is_rejected_with_its_index() -> None:
    text = STREAMING["json"]("search", {"q": SECRET})[:-20]
    events, _ = run("json", list(text), TOOLS, deltas=True)
    assert check_deltas(events)[0][3] == "rejected"
    assert [(e.reason, e.index) for e in events if isinstance(e, RejectedToolCall)] == [
        ("incomplete", 0)]


def test_json_text_passes_through_with_raw_newlines_escaped() -> None:
    text = '<tool_call>{"name": "search", "arguments": {"q": "a\nb",  "limit": 1}}</tool_call>'
    events, _ = run("json", list(text), None, deltas=True)
    assert check_deltas(events) == [(0, "search", '{"q": "a\\nb",  "limit": 1}', "call")]


def test_arguments_before_the_name_are_sent_when_the_call_is_parsed() -> None:
    text = '<tool_call>{"arguments": {"q": "x"}, "name": "search"}</tool_call>'
    events, _ = run("json", list(text), None, deltas=True)
    assert check_deltas(events) == [(0, "search", '{"q": "x"}', "call")]


def test_model_ids_are_the_delta_ids() -> None:
    events, _ = run("kimi_k2", list(STREAMING["kimi_k2"]("search", {"q": "x"})), None, deltas=True)
    assert {e.id for e in events if isinstance(e, (ToolCallDelta, ToolCall))} == {
        "functions.search:0"}


def test_deltas_are_off_unless_asked() -> None:
    events, _ = run("json", list(STREAMING["json"]("search", {"q": "x"})), None)
    assert not any(isinstance(e, ToolCallDelta) for e in events)
    assert [e.index for e in events if isinstance(e, ToolCall)] == [None]


class _Plain:
    """A third-party parser without ``stream_deltas``: every text is one call."""

    def feed(self, text: str) -> list[Any]:
        return [ToolCall("call_1", "echo", {"text": text})] if text else []

    def finish(self) -> list[Any]:
        return []


def test_parsers_that_cannot_stream_get_one_delta_per_call() -> None:
    parser = with_deltas(_Plain())
    events = parser.feed("hi") + parser.feed("ho") + parser.finish()
    assert check_deltas(events) == [(0, "echo", '{"text": "hi"}', "call"),
                                    (1, "echo", '{"text": "ho"}', "call")]


JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers(-10**6, 10**6) | st.text(max_size=12),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=5), inner,
                                                                 max_size=3),
    max_leaves=8)


@pytest.mark.parametrize("name", ["json", "mistral", "kimi_k2", "harmony", "llama3_json"])
def test_any_json_arguments_stream_exactly(name: str) -> None:
    @settings(max_examples=40, deadline=None, derandomize=True,
              suppress_health_check=[HealthCheck.too_slow])
    @given(args=st.dictionaries(st.text(max_size=6), JSON_VALUES, max_size=4),
           cuts=st.lists(st.integers(1, 10_000), max_size=8))
    def check(args: dict[str, Any], cuts: list[int]) -> None:
        text = STREAMING[name]("f", args)
        bounds = sorted({0, len(text), *(c % len(text) for c in cuts)})
        pieces = [text[a:b] for a, b in pairwise(bounds)]
        events, _ = run(name, pieces, None, deltas=True)
        ends = check_deltas(events)
        assert len(ends) == 1 and ends[0][3] == "call"
        assert next(e for e in events if isinstance(e, ToolCall)).arguments == args

    check()


@pytest.mark.parametrize("name", ["qwen3_coder", "minimax_m2", "deepseek_v32"])
def test_any_text_values_stream_exactly(name: str) -> None:
    value = st.text(alphabet='ab\n "\\<>/é\t', max_size=15).filter(lambda v: "<" not in v)

    @settings(max_examples=40, deadline=None, derandomize=True,
              suppress_health_check=[HealthCheck.too_slow])
    @given(args=st.dictionaries(st.sampled_from(["q", "x", "y_1"]), value, max_size=3),
           cuts=st.lists(st.integers(1, 10_000), max_size=8))
    def check(args: dict[str, Any], cuts: list[int]) -> None:
        text = STREAMING[name]("f", args)
        bounds = sorted({0, len(text), *(c % len(text) for c in cuts)})
        pieces = [text[a:b] for a, b in pairwise(bounds)]
        events, _ = run(name, pieces, None, deltas=True)
        ends = check_deltas(events)
        assert len(ends) == 1 and ends[0][3] == "call", events

    check()


def test_generate_streams_deltas_on_the_scripted_backend() -> None:
    reply = "Checking. " + hermes("get_weather", {"city": "Paris", "days": 2}) + " done"
    context = lmstream.load(backend="scripted", reply=reply)
    events = list(lmstream.generate(
        lmstream.UserInput(prompt="Weather?", tools=TOOLS), context=context,
        parameters={"tool_parser": "json", "stream_tool_calls": True}))
    deltas = [e for e in events if isinstance(e, ToolCallDelta)]
    assert len(deltas) > 5, "the scripted backend cuts one character per token"
    assert check_deltas(events) == [(0, "get_weather", '{"city": "Paris", "days": 2}', "call")]
    call = next(e for e in events if isinstance(e, ToolCall))
    assert call.arguments == {"city": "Paris", "days": 2} and call.index == 0
    plain = list(lmstream.generate(
        lmstream.UserInput(prompt="Weather?", tools=TOOLS), context=context,
        parameters={"tool_parser": "json"}))
    assert not any(isinstance(e, ToolCallDelta) for e in plain)
