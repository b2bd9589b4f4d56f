"""Documented semantics the probe found broken: a tool result that overflows the context ends
``stream_details`` with Info(error); tool results are standard JSON; bad seeds and logit biases
are refused at creation (see test_bad_inputs.py)."""

from __future__ import annotations

import json
import math
from collections.abc import Callable
from typing import Any

import pytest

import lmstream
from lmstream import ChatSession
from lmstream.chat._tool_dispatch import encode_result

CALL = '<tool_call>\n{"name": "big", "arguments": {}}\n</tool_call>'


def big() -> str:
    """Return a very long text."""
    return "word " * 5000


def tool_context(scripted: Callable[..., lmstream.ModelContext]) -> lmstream.ModelContext:
    return scripted(reply=[CALL, "done"], chat_template="chatml", tool_parser="json",
                    end_token="<|im_end|>", context_length=2048)


def test_overflowing_tool_result_ends_stream_details_with_info(
        scripted: Callable[..., lmstream.ModelContext]) -> None:
    session = ChatSession(tool_context(scripted), tool_dispatch=[big])
    events = list(session.stream_details("go"))
    info = events[-1]
    assert isinstance(info, lmstream.Info)
    assert info.stop_reason == lmstream.StopReason.ERROR
    assert isinstance(info.error, lmstream.ContextLengthError)
    assert session.history == []  # the turn was rolled back


def test_overflowing_tool_result_raises_from_respond(
        scripted: Callable[..., lmstream.ModelContext]) -> None:
    session = ChatSession(tool_context(scripted), tool_dispatch=[big])
    with pytest.raises(lmstream.ContextLengthError):
        session.respond("go")
    assert session.history == []


def strict_json(text: str) -> Any:
    def refuse(constant: str) -> Any:
        raise ValueError(f"not standard JSON: {constant}")
    return json.loads(text, parse_constant=refuse)


@pytest.mark.parametrize("value", [math.nan, {"v": math.inf}, [-math.inf, 1.5]])
def test_tool_results_are_standard_json(value: Any) -> None:
    decoded = strict_json(encode_result(value))
    assert "NaN" in json.dumps(decoded) or "Infinity" in json.dumps(decoded)


def test_none_tool_parser_passes_text_through() -> None:
    from lmstream.hooks import ToolParser, get_tool_parser

    parser = get_tool_parser("none")
    assert isinstance(parser, ToolParser)
    events = parser.feed('<tool_call>{"name": "f"}</tool_call>') + parser.finish()
    assert [type(e).__name__ for e in events] == ["Chunk"]
    assert events[0].text == '<tool_call>{"name": "f"}</tool_call>'
