"""Every format of the contract is registered through the entry point and behaves as a ToolParser."""

from __future__ import annotations

import pytest

import lmstream
from lmstream import ToolSpec, UnknownNameError
from lmstream.plugin import ToolParser

CONTRACT_NAMES = [
    "json", "llama3_json", "pythonic", "lfm2", "mistral", "qwen3_coder", "seed_oss", "glm45",
    "glm47", "deepseek_v3", "deepseek_v31", "deepseek_v32", "kimi_k2", "minimax_m2", "gemma4",
    "function_gemma", "harmony", "granite", "phi4_mini",
]


def test_every_contract_name_is_registered_by_the_toolcalls_entry_point() -> None:
    registry = lmstream.get_plugin_system().tool_parsers
    for name in CONTRACT_NAMES:
        assert name in registry
        assert registry.owner(name) == "toolcalls"


@pytest.mark.parametrize("name", CONTRACT_NAMES)
def test_factory_gives_fresh_parsers(name: str) -> None:
    first = lmstream.get_tool_parser(name)
    second = lmstream.get_tool_parser(name)
    assert isinstance(first, ToolParser)
    assert first is not second
    assert first.feed("") == []
    events = first.feed("plain words only") + first.finish()
    assert [e.text for e in events] == ["plain words only"]
    assert second.finish() == []


def test_tools_accept_toolspecs_openai_dicts_and_plain_dicts() -> None:
    text = '<tool_call>{"name": "a", "arguments": {}}</tool_call>' \
           '<tool_call>{"name": "b", "arguments": {}}</tool_call>' \
           '<tool_call>{"name": "c", "arguments": {}}</tool_call>' \
           '<tool_call>{"name": "d", "arguments": {}}</tool_call>'
    tools = [
        ToolSpec(name="a"),
        {"type": "function", "function": {"name": "b", "parameters": {"type": "object"}}},
        {"name": "c", "description": "plain", "parameters": {"type": "object", "properties": {}}},
    ]
    parser = lmstream.get_tool_parser("json", tools)
    events = parser.feed(text) + parser.finish()
    assert [type(e).__name__ for e in events] == ["ToolCall"] * 3 + ["RejectedToolCall"]
    assert events[3].reason == "undeclared_tool" and "'d'" in events[3].detail


def test_unknown_name_lists_the_known_ones() -> None:
    with pytest.raises(UnknownNameError) as info:
        lmstream.get_tool_parser("hermes-ish")
    assert "json" in str(info.value) and "harmony" in str(info.value)


def test_tools_none_accepts_any_name_and_empty_list_accepts_none() -> None:
    text = '<tool_call>{"name": "anything", "arguments": {"x": 1}}</tool_call>'
    open_parser = lmstream.get_tool_parser("json", None)
    assert open_parser.feed(text)[0].name == "anything"
    closed = lmstream.get_tool_parser("json", [])
    assert closed.feed(text)[0].reason == "undeclared_tool"
