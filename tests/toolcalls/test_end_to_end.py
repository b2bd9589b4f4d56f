"""End to end on the scripted backend: replies holding calls of several formats stream the right
ToolCall events through ``lmstream.generate``, with every marker cut across tokens."""

from __future__ import annotations

import json
from typing import Any

import pytest
from toolcall_harness import TOOLS

import lmstream
from lmstream import Chunk, Info, RejectedToolCall, ToolCall


def hermes(name: str, **arguments: Any) -> str:
    return f"<tool_call>\n{json.dumps({'name': name, 'arguments': arguments})}\n</tool_call>"


KB, KE = "<|tool_calls_section_begin|>", "<|tool_calls_section_end|>"
DB, DE = "<｜tool▁calls▁begin｜>", "<｜tool▁calls▁end｜>"


def kimi(index: int, name: str, **arguments: Any) -> str:
    return (f"<|tool_call_begin|>functions.{name}:{index}<|tool_call_argument_begin|>"
            f"{json.dumps(arguments)}<|tool_call_end|>")


def deepseek(name: str, **arguments: Any) -> str:
    return f"<｜tool▁call▁begin｜>{name}<｜tool▁sep｜>{json.dumps(arguments)}<｜tool▁call▁end｜>"


CASES = {
    "json": (
        "Let me check both. " + hermes("get_weather", city="Paris", days=2) + "\n"
        + hermes("search", q="</tool_call> in a string") + hermes("rm", path="/"),
        "Let me check both. ",  # the newline between the calls is not content
        [("get_weather", {"city": "Paris", "days": 2}), ("search", {"q": "</tool_call> in a string"})],
        ["undeclared_tool"],
    ),
    "kimi_k2": (
        "On it." + KB + kimi(0, "get_weather", city="Tōkyō") + kimi(1, "search", q="ramen") + KE
        + " Done.",
        "On it. Done.",
        [("get_weather", {"city": "Tōkyō"}), ("search", {"q": "ramen"})],
        [],
    ),
    "deepseek_v31": (
        "Checking…" + DB + deepseek("search", q="天气", limit=3) + DE,
        "Checking…",
        [("search", {"q": "天气", "limit": 3})],
        [],
    ),
    "harmony": (
        "<|channel|>analysis<|message|>User wants weather.<|end|>"
        "<|start|>assistant<|channel|>commentary to=functions.get_weather <|constrain|>json"
        '<|message|>{"city": "Oslo"}<|call|>',
        "",
        [("get_weather", {"city": "Oslo"})],
        [],
    ),
}


def collect(events: list[Any]) -> tuple[str, str, list[tuple[str, dict[str, Any]]], list[str]]:
    assert isinstance(events[-1], Info) and sum(isinstance(e, Info) for e in events) == 1
    text = "".join(e.text for e in events if isinstance(e, Chunk) and e.channel == "content")
    thinking = "".join(e.text for e in events if isinstance(e, Chunk) and e.channel == "reasoning")
    calls = [(e.name, e.arguments) for e in events if isinstance(e, ToolCall)]
    rejected = [e.reason for e in events if isinstance(e, RejectedToolCall)]
    return text, thinking, calls, rejected


@pytest.mark.parametrize("cut", ["chars", "bytes", 3])
@pytest.mark.parametrize("name", sorted(CASES))
def test_generate_streams_tool_calls(name: str, cut: Any) -> None:
    reply, content, calls, rejected = CASES[name]
    context = lmstream.load(backend="scripted", reply=reply, cut=cut)
    events = list(lmstream.generate(
        lmstream.UserInput(prompt="hi", tools=TOOLS), context=context,
        parameters=lmstream.GenerationParameters(tool_parser=name, max_tokens=4096)))
    text, thinking, got_calls, got_rejected = collect(events)
    assert (text, got_calls, got_rejected) == (content, calls, rejected)
    if name == "harmony":
        assert thinking == "User wants weather."
    assert events[-1].stop_reason == "stop"


def test_all_three_in_one_session_of_replies() -> None:
    """One context whose successive replies use three formats; the parser follows the call."""
    replies = [CASES[n][0] for n in ("json", "kimi_k2", "deepseek_v31")]
    context = lmstream.load(backend="scripted", reply=replies, cut=2)
    for name in ("json", "kimi_k2", "deepseek_v31"):
        events = list(lmstream.generate(
            lmstream.UserInput(prompt="hi", tools=TOOLS), context=context,
            parameters=lmstream.GenerationParameters(tool_parser=name, max_tokens=4096)))
        assert collect(events)[2] == CASES[name][2]


def test_resolver_picks_the_parser_from_the_chat_template() -> None:
    reply, _content, calls, _ = CASES["kimi_k2"]
    template = "{{ '<|tool_calls_section_begin|>' }}{% for m in messages %}{{ m.content }}{% endfor %}"
    context = lmstream.load(backend="scripted", reply=reply, model_chat_template=template)
    events = list(lmstream.generate(lmstream.UserInput(prompt="hi", tools=TOOLS),
                                    context=context,
                                    parameters=lmstream.GenerationParameters(max_tokens=4096)))
    assert collect(events)[2] == calls


def test_load_option_overrides_the_resolver() -> None:
    reply, _content, calls, _ = CASES["deepseek_v31"]
    context = lmstream.load(backend="scripted", reply=reply, tool_parser="deepseek_v31",
                            tool_parser_type="json")
    events = list(lmstream.generate(lmstream.UserInput(prompt="hi", tools=TOOLS),
                                    context=context,
                                    parameters=lmstream.GenerationParameters(max_tokens=4096)))
    assert collect(events)[2] == calls


def test_tool_parser_type_in_the_tokenizer_config_is_resolved() -> None:
    reply, _content, calls, _ = CASES["json"]
    context = lmstream.load(backend="scripted", reply=reply, tool_parser_type="json_tools",
                            model_chat_template=None)
    result = context.generate("hi", tools=TOOLS, max_tokens=4096)
    assert [(c.name, c.arguments) for c in result.tool_calls] == calls
