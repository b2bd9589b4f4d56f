"""Harmony (gpt-oss): messages with channels. ``analysis`` text goes to the reasoning channel,
``final`` (and ``commentary`` without a recipient) to content, and a message addressed
``to=functions.name`` is a tool call whose body is JSON:

    <|channel|>analysis<|message|>…<|end|>
    <|start|>assistant<|channel|>commentary to=functions.get_weather <|constrain|>json<|message|>{…}<|call|>
    <|start|>assistant<|channel|>final<|message|>…<|return|>

``<|call|>`` and ``<|return|>`` are stop tokens, so a call may also end with the stream.
"""

from __future__ import annotations

import re

from lmstream import TextEvent

from .base import Format
from .calls import INCOMPLETE, MALFORMED, CallSyntaxError, ParsedCall, arguments_dict, loads
from .deltas import Piece
from .emitting import EventEmitter
from .json_stream import JsonPass
from .rules import Rule
from .scanning import BACKSLASH, JSON_QUOTES, Delimited, DelimitedFinder, Immediate
from .tools import ToolBox

START, CHANNEL, MESSAGE = "<|start|>", "<|channel|>", "<|message|>"
END, RETURN, CALL = "<|end|>", "<|return|>", "<|call|>"
TERMINATORS = (CALL, END, RETURN)
HEADER_LIMIT = 256
"""A header longer than this without ``<|message|>`` is malformed (and cut there)."""

_HEADER = Delimited([MESSAGE], exclusive=[START, *TERMINATORS])
_BODY = Delimited(TERMINATORS, JSON_QUOTES, BACKSLASH, exclusive=[START, CHANNEL])
_MARGIN = max(len(t) for t in (MESSAGE, START, *TERMINATORS))
_CHANNEL = re.compile(re.escape(CHANNEL) + r"\s*(?P<channel>[A-Za-z_]+)")
_RECIPIENT = re.compile(r"\bto=(?P<to>[^\s<]+)")
REASONING_CHANNELS = ("analysis",)


class HarmonyEnd:
    """A message header, and for a tool call also its JSON body."""

    def new(self, marker_end: int) -> HarmonyFinder:
        """A finder for one region."""
        return HarmonyFinder(marker_end)


class HarmonyFinder:
    """Header up to ``<|message|>``; a call header continues through its body."""

    __slots__ = ("body", "header", "marker_end")

    def __init__(self, marker_end: int) -> None:
        self.marker_end = marker_end
        self.header: DelimitedFinder = _HEADER.new(marker_end)
        self.body: DelimitedFinder | None = None

    def scan(self, buf: str) -> int | None:
        """End of a plain header, or of a call's body."""
        if self.body is not None:
            return self.body.scan(buf)
        limit = self.marker_end + HEADER_LIMIT
        end = self.header.scan(buf)
        if end is None:
            return limit if len(buf) >= limit + _MARGIN else None
        if end > limit + len(MESSAGE):
            return limit
        if not buf.startswith(MESSAGE, end - len(MESSAGE)) or not _RECIPIENT.search(buf, 0, end):
            return end
        self.body = _BODY.new(end)
        return self.body.scan(buf)

    def at_finish(self, buf: str) -> int | None:
        """A call body ends with the stream (its ``<|call|>`` was a stop token)."""
        return len(buf) if self.body is not None else None


def _call_name(recipient: re.Match[str]) -> str:
    name = recipient.group("to")
    return name[len("functions."):] if name.startswith("functions.") else name


class HarmonyStream:
    """Streams a call message: the name from the header's recipient, then the JSON body."""

    __slots__ = ("body", "done", "marker_end")

    def __init__(self, marker_end: int, tools: ToolBox) -> None:
        self.marker_end = marker_end
        self.body: JsonPass | None = None
        self.done = False

    def update(self, buf: str) -> list[Piece]:
        """Pieces for the text added since the last call."""
        out: list[Piece] = []
        if self.done:
            return out
        if self.body is None:
            end = buf.find(MESSAGE, self.marker_end, self.marker_end + HEADER_LIMIT + len(MESSAGE))
            if end == -1:
                self.done = len(buf) > self.marker_end + HEADER_LIMIT + len(MESSAGE)
                return out
            recipient = _RECIPIENT.search(buf, 0, end)
            start = end + len(MESSAGE)
            while start < len(buf) and buf[start].isspace():
                start += 1
            if recipient is None or start >= len(buf):
                self.done = recipient is None
                return out
            if buf[start] != "{":
                self.done = True
                return out
            out.append(Piece(0, name=_call_name(recipient)))
            self.body = JsonPass(start)
        text, self.done = self.body.feed(buf)
        if text:
            out.append(Piece(0, text=text))
        return out


def handle_message(parser: EventEmitter, text: str, out: list[TextEvent]) -> None:
    """A header switches the channel; a call header plus body becomes a tool call."""
    header_end = text.find(MESSAGE)
    if header_end == -1:
        parser.channel = "content"
        parser.reject(out, text, MALFORMED, f"message header without {MESSAGE}")
        return
    header = text[:header_end + len(MESSAGE)]
    recipient = _RECIPIENT.search(header)
    if recipient is None:
        channel = _CHANNEL.search(header)
        parser.silent(out, header)
        parser.channel = "reasoning" if channel and channel.group("channel") in \
            REASONING_CHANNELS else "content"
        return
    parser.channel = "content"
    body = text[len(header):]
    terminator = next((t for t in TERMINATORS if body.endswith(t)), "")
    body = body[: len(body) - len(terminator)]
    name = _call_name(recipient)
    try:
        arguments = arguments_dict(loads(body, f"the arguments of {name!r}"), name)
    except CallSyntaxError as exc:
        reason = MALFORMED if terminator else INCOMPLETE
        parser.reject(out, text, reason, str(exc))
        return
    parser.accept(out, ParsedCall(name, arguments), text)


def handle_recipient(parser: EventEmitter, text: str, out: list[TextEvent]) -> None:
    """``to=functions.x<|channel|>…<|message|>{…}``: the recipient written in the role header
    (after ``<|start|>assistant`` in the prompt, so the stream starts with it); without a
    message it is just text."""
    if parser.channel == "reasoning" or MESSAGE not in text:
        parser.emit_text(out, text)
        return
    handle_message(parser, text, out)


def handle_terminator(parser: EventEmitter, text: str, out: list[TextEvent]) -> None:
    """``<|end|>``, ``<|return|>``, ``<|call|>``: the message ends; back to content."""
    parser.silent(out, text)
    parser.channel = "content"


HARMONY = Format("harmony", [
    Rule(START, HarmonyEnd(), handle=handle_message, what="harmony message", stream=HarmonyStream),
    Rule(CHANNEL, HarmonyEnd(), handle=handle_message, what="harmony message",
         stream=HarmonyStream),
    *(Rule(t, Immediate(), handle=handle_terminator) for t in TERMINATORS),
    # sent whole when parsed: the handler decides whether it is a call at all
], opening=[
    # only at the start of the stream (the prompt ended with `<|start|>assistant`)
    Rule("to=functions.", HarmonyEnd(), handle=handle_recipient, what="harmony message",
         text_if_unclosed=True),
])
