"""The tool-call parser slot of the pipeline: the parser protocol, the pass-through parser and
the delta adapter (``get_tool_parser`` in _system.py finds one by name)."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Protocol, runtime_checkable

from ..protocol import Chunk, TextEvent, ToolCall, ToolCallDelta, ToolSpec


@runtime_checkable
class ToolParser(Protocol):
    """A streaming tool-call parser; one fresh instance per generation.

    ``feed`` takes the next text delta and returns the events that are decided (content
    ``Chunk``s, ``ToolCall``s, ``RejectedToolCall``s); text that could still become a marker is
    held back. ``finish`` flushes at the end of the stream: held text becomes content, an
    unclosed call becomes a ``RejectedToolCall(reason="incomplete")``. Never raises on model
    output; nothing fed is ever lost.
    """

    def feed(self, text: str) -> list[TextEvent]: ...

    def finish(self) -> list[TextEvent]: ...


ToolParserFactory = Callable[[list[ToolSpec] | None], ToolParser]
"""``factory(tools) -> ToolParser``; ``tools=None`` accepts any tool name."""

NO_TOOL_PARSER = "none"
"""Parser name that disables tool-call parsing (text passes through untouched)."""


class PassThroughParser:
    """The ``none`` parser: every delta is content, nothing is ever parsed as a call."""

    def feed(self, text: str) -> list[TextEvent]:
        """The delta as one content Chunk (nothing for an empty delta)."""
        if not isinstance(text, str):
            raise TypeError(f"feed() takes the next text delta (a str), not {type(text).__name__}")
        return [Chunk(text)] if text else []

    def finish(self) -> list[TextEvent]:
        """Nothing is held back, so nothing is flushed."""
        return []


def with_deltas(parser: ToolParser) -> ToolParser:
    """``parser`` emitting ``ToolCallDelta`` events (``GenerationParameters.stream_tool_calls``).

    A parser with a ``stream_deltas()`` method streams calls itself (the built-in ones do);
    any other is wrapped so that each ``ToolCall`` is preceded by one delta carrying all of
    its arguments, which keeps the delta contract for third-party parsers too. A wrapped
    parser that emits ``ToolCallDelta`` events itself keeps them: a call it streamed gets no
    second, synthesized delta.
    """
    enable = getattr(parser, "stream_deltas", None)
    if callable(enable):
        enable(True)
        return parser
    return _WholeCallDeltas(parser)


class _WholeCallDeltas:
    """Adds one ``ToolCallDelta`` before each ``ToolCall`` of a parser that cannot stream."""

    def __init__(self, parser: ToolParser) -> None:
        self._parser = parser
        self._index = 0
        self._streamed: set[str] = set()
        """Ids of calls the wrapped parser streamed itself."""
        self.silent_text = getattr(parser, "silent_text", None)

    def feed(self, text: str) -> list[TextEvent]:
        """The wrapped parser's events, deltas added."""
        return self._add(self._parser.feed(text))

    def finish(self) -> list[TextEvent]:
        """The wrapped parser's last events, deltas added."""
        return self._add(self._parser.finish())

    def _add(self, events: list[TextEvent]) -> list[TextEvent]:
        if not any(type(e) is ToolCall or type(e) is ToolCallDelta for e in events):
            return events
        out: list[TextEvent] = []
        for event in events:
            if type(event) is ToolCallDelta:
                self._streamed.add(event.id)
            elif type(event) is ToolCall and event.id in self._streamed:
                self._streamed.discard(event.id)
                self._index = max(self._index, (event.index or 0) + 1)
            elif type(event) is ToolCall:
                index, self._index = self._index, self._index + 1
                out.append(ToolCallDelta(index, event.id, event.name,
                                         json.dumps(event.arguments, ensure_ascii=False)))
                event = ToolCall(event.id, event.name, event.arguments, index)
            out.append(event)
        return out
