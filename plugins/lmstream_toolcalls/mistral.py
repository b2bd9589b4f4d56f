"""Mistral: ``[TOOL_CALLS] [{...}, ...]`` (older) and ``[TOOL_CALLS]name[ARGS]{...}`` /
``[TOOL_CALLS]name{...}`` (newer; optional ``[CALL_ID]id``). There is no end marker: a call
ends where its JSON closes, and the next call starts with another ``[TOOL_CALLS]``.
"""

from __future__ import annotations

import re

from .base import Format
from .calls import CallSyntaxError, ParsedCall, ParseResult, arguments_dict, decode_at, json_calls
from .deltas import Piece
from .json_stream import JsonCallStream, JsonPass
from .reasoning import MISTRAL_THINK, REASONING_BLOCKS
from .rules import Rule
from .scanning import Balanced, BalancedFinder
from .tools import ToolBox

MARKER = "[TOOL_CALLS]"
TAGS = ("[CALL_ID]", "[ARGS]")
_NAME = re.compile(r"[\w.\-]+")
_SPACE = re.compile(r"\s*")
_VALUE = Balanced(first="[{")

_WAIT = -1


def read_header(buf: str, pos: int) -> tuple[int, str | None, str | None]:
    """Read what follows the marker: (index where the JSON value opens, name, call id).

    The index is ``_WAIT`` when the buffer ends before the header is decided, or ``-2 - i``
    when the header is broken at ``i``.
    """
    n = len(buf)
    i = _SPACE.match(buf, pos).end()  # type: ignore[union-attr]
    if i == n:
        return _WAIT, None, None
    if buf[i] in "[{":
        return i, None, None
    m = _NAME.match(buf, i)
    if m is None:
        return -2 - i, None, None
    name, call_id, i = m.group(), None, m.end()
    seen: set[str] = set()
    while True:
        i = _SPACE.match(buf, i).end()  # type: ignore[union-attr]
        if i == n:
            return _WAIT, None, None
        tag = next((t for t in TAGS if buf.startswith(t, i)), None)
        if tag is None:
            if any(t.startswith(buf[i:]) for t in TAGS):
                return _WAIT, None, None
            break
        if tag in seen:
            return -2 - i, None, None
        seen.add(tag)
        i += len(tag)
        if tag == "[CALL_ID]":
            i = _SPACE.match(buf, i).end()  # type: ignore[union-attr]
            m = _NAME.match(buf, i)
            if m is None or m.end() == n:
                return (_WAIT if i == n or m is not None else -2 - i), None, None
            call_id, i = m.group(), m.end()
    if buf[i] != "{":
        return -2 - i, None, None
    return i, name, call_id


class MistralEnd:
    """Ends a region where the JSON after the header closes."""

    def new(self, marker_end: int) -> MistralFinder:
        """A finder for one region."""
        return MistralFinder(marker_end)


class MistralFinder:
    """Header first, then a Balanced JSON value."""

    __slots__ = ("inner", "marker_end")

    def __init__(self, marker_end: int) -> None:
        self.marker_end = marker_end
        self.inner: BalancedFinder | None = None

    def scan(self, buf: str) -> int | None:
        """End offset of the call, or None: need more text."""
        if self.inner is None:
            start, _name, _id = read_header(buf, self.marker_end)
            if start == _WAIT:
                return None
            if start < 0:
                return -2 - start
            self.inner = _VALUE.new(start)
        return self.inner.scan(buf)

    def at_finish(self, buf: str) -> int | None:
        """An unclosed header or value is incomplete."""
        return None if self.inner is None else self.inner.at_finish(buf)


class MistralStream:
    """Streams ``name[ARGS]{...}`` (name from the header) or a JSON list of call objects."""

    def __init__(self, marker_end: int, tools: ToolBox) -> None:
        self.marker_end = marker_end
        self.inner: JsonCallStream | JsonPass | None = None
        self.done = False

    def update(self, buf: str) -> list[Piece]:
        """Pieces for the text added since the last call."""
        out: list[Piece] = []
        if self.inner is None:
            start, name, call_id = read_header(buf, self.marker_end)
            if start == _WAIT:
                return out
            if start < 0:
                self.done = True
                return out
            if name is None:
                self.inner = JsonCallStream(start, many=True, separators="[,")
            else:
                out.append(Piece(0, name=name, id=call_id))
                self.inner = JsonPass(start)
        if isinstance(self.inner, JsonCallStream):
            return self.inner.update(buf)
        if not self.done:
            text, self.done = self.inner.feed(buf)
            if text:
                out.append(Piece(0, text=text))
        return out


def parse_mistral(text: str, tools: ToolBox) -> ParseResult:
    """A JSON list of calls, one call object, or ``name[ARGS]{...}``."""
    start, name, call_id = read_header(text, len(MARKER))
    if start < 0:
        raise CallSyntaxError(f"expected a call list, an object or name[ARGS]{{...}} after {MARKER}")
    if name is None:
        return json_calls(text, start)
    value, _end = decode_at(text, start, f"the arguments of {name!r}")
    return [ParsedCall(name, arguments_dict(value, name), call_id)]


MISTRAL = Format("mistral", [Rule(MARKER, MistralEnd(), parse_mistral, stream=MistralStream)],
                 reasoning=(*REASONING_BLOCKS, MISTRAL_THINK))
