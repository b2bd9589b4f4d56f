"""Property: any well-formed event sequence streams as a well-formed Anthropic event sequence.

Random mixes of content and reasoning chunks, tool calls streamed with deltas or sent whole,
rejected calls and every end (stop, length, error), with and without
``disable_parallel_tool_use``: blocks open and close in order with consecutive indexes, the
text, thinking and tool inputs rebuild exactly, and the stream ends with ``message_stop``
(after ``message_delta``, or after an ``error`` event when the generation failed).
"""

from __future__ import annotations

import asyncio
import json
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from lmstream import (
    Chunk,
    GenerationStats,
    Info,
    RejectedToolCall,
    StopReason,
    ToolCall,
    ToolCallDelta,
)

from .conftest import sse_events

pytest.importorskip("starlette")

from lmstream_server.messages import _stream
from lmstream_server.state import ServedModel


class FakeStream:
    """An EventStream stand-in: yields the given events; ``cancel`` ends it early (like the core)."""

    def __init__(self, events: list[Any]) -> None:
        self.events = events
        self.cancelled = False

    def __aiter__(self) -> Any:
        return self._iterate()

    async def _iterate(self) -> Any:
        for event in self.events[:-1]:
            if self.cancelled:
                break
            yield event
        final = self.events[-1]
        if self.cancelled and final.stop_reason != StopReason.ERROR:
            final = Info(StopReason.CANCELLED, final.stats)
        yield final

    def cancel(self) -> None:
        self.cancelled = True


TEXT = st.text(st.characters(codec="utf-8", exclude_categories=("Cs",)), min_size=1, max_size=6)
ARGS = st.dictionaries(st.sampled_from(["city", "n", "deep"]), st.one_of(st.integers(), TEXT), max_size=3)


@st.composite
def segments(draw: Any) -> list[tuple[str, Any]]:
    out: list[tuple[str, Any]] = []
    for number in range(draw(st.integers(0, 6))):
        kind = draw(st.sampled_from(["content", "reasoning", "streamed_call", "whole_call", "rejected"]))
        if kind in ("content", "reasoning"):
            out.append((kind, draw(TEXT)))
        elif kind == "rejected":
            out.append((kind, draw(TEXT)))
        else:
            out.append((kind, (f"call_{number}", draw(ARGS), draw(st.integers(1, 4)))))
    return out


def events_of(parts: list[tuple[str, Any]], end: StopReason) -> list[Any]:
    events: list[Any] = []
    for kind, value in parts:
        if kind in ("content", "reasoning"):
            events.append(Chunk(value, channel=kind))
        elif kind == "rejected":
            events.append(RejectedToolCall(value, "malformed", "bad"))
        else:
            call_id, arguments, pieces = value
            if kind == "streamed_call":
                text = json.dumps(arguments)
                size = max(1, len(text) // pieces)
                events.append(ToolCallDelta(0, call_id, "get_weather"))
                events.extend(ToolCallDelta(0, call_id, "get_weather", text[i:i + size])
                              for i in range(0, len(text), size))
            events.append(ToolCall(call_id, "get_weather", arguments))
    error = RuntimeError("boom") if end == StopReason.ERROR else None
    events.append(Info(end, GenerationStats(prompt_tokens=3, generated_tokens=len(events)), error=error))
    return events


async def _collect(events: list[Any], single: bool) -> bytes:
    served = ServedModel("scripted", context=None)  # type: ignore[arg-type]
    return b"".join([piece async for piece in _stream(served, FakeStream(events), 3, single)])  # type: ignore[arg-type]


@settings(max_examples=200, deadline=None)
@given(parts=segments(), end=st.sampled_from([StopReason.STOP, StopReason.LENGTH, StopReason.ERROR]),
       single=st.booleans())
def test_any_event_sequence_streams_well_formed(parts: list[tuple[str, Any]], end: StopReason, single: bool) -> None:
    raw = asyncio.run(_collect(events_of(parts, end), single))
    events = [(name, json.loads(data)) for name, data in sse_events(raw)]
    names = [name for name, _ in events]
    assert names[0] == "message_start" and names[-1] == "message_stop"
    if end == StopReason.ERROR:
        assert names[-2] == "error" and "message_delta" not in names
        return
    assert names[-2] == "message_delta"
    blocks: list[dict[str, Any]] = []
    open_index: int | None = None
    for name, data in events:
        if name == "content_block_start":
            assert open_index is None and data["index"] == len(blocks)
            open_index = data["index"]
            blocks.append({**data["content_block"], "json": ""})
        elif name == "content_block_delta":
            assert data["index"] == open_index
            delta, block = data["delta"], blocks[data["index"]]
            if delta["type"] == "text_delta":
                block["text"] += delta["text"]
            elif delta["type"] == "thinking_delta":
                block["thinking"] += delta["thinking"]
            elif delta["type"] == "input_json_delta":
                block["json"] += delta["partial_json"]
        elif name == "content_block_stop":
            assert data["index"] == open_index
            open_index = None
    assert open_index is None
    calls = [value for kind, value in parts if kind in ("streamed_call", "whole_call")]
    kept_calls = calls[:1] if single else calls
    uses = [block for block in blocks if block["type"] == "tool_use"]
    assert [(b["id"], json.loads(b["json"])) for b in uses] == [(c[0], c[1]) for c in kept_calls]
    stop_reason = events[-2][1]["delta"]["stop_reason"]
    assert stop_reason == ("tool_use" if calls else "max_tokens" if end == StopReason.LENGTH else "end_turn")
    if not (single and calls):  # every text is in the stream, in order (after the one kept call, text is cut)
        expected = "".join(value for kind, value in parts if kind in ("content", "rejected"))
        thinking = "".join(value for kind, value in parts if kind == "reasoning")
        assert "".join(b.get("text", "") for b in blocks) == expected
        assert "".join(b.get("thinking", "") for b in blocks) == thinking
