"""A format's building block: one start marker, how its region ends and what the region means."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from lmstream import TextEvent

from .calls import ParseResult
from .deltas import StreamFactory
from .emitting import EventEmitter
from .matching import Marker
from .scanning import EndSpec
from .tools import ToolBox

ParseFunction = Callable[[str, ToolBox], ParseResult]
"""``parse(region_text, tools) -> [ParsedCall | BadCall, ...]``; raise CallSyntaxError."""

Handler = Callable[[EventEmitter, str, list[TextEvent]], None]
"""Custom region handling (Harmony's channel headers): append events, account for the text,
through the parser's event side (``EventEmitter``: ``emit_text``, ``silent``, ``accept``,
``reject``, ``channel``)."""


@dataclass(frozen=True)
class Rule:
    """One start marker of a format, how its region ends and what the region means."""

    start: Marker
    end: EndSpec
    parse: ParseFunction | None = None
    handle: Handler | None = None
    what: str = "tool call"
    """How an unclosed region is described in the ``incomplete`` detail."""
    complete_at_end: bool = False
    """At the end of the stream, an unclosed region whose body parses completely (every call
    valid) is accepted, as peers do for a missing end marker; otherwise it is ``incomplete``."""
    text_if_unclosed: bool = False
    """A region still open at the end of the stream is plain text (a guessed start marker)."""
    stream: StreamFactory | None = None
    """Streams a call's name and arguments while the region is open (``deltas``); without
    it, a call is sent as one ``ToolCallDelta`` when it is parsed."""

    def __post_init__(self) -> None:
        if (self.parse is None) == (self.handle is None):
            raise ValueError("a rule needs exactly one of parse= or handle=")
