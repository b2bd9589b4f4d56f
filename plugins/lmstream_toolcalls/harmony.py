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

from .base import Format, Rule, StreamingParser
from .calls import INCOMPLETE, MALFORMED, CallSyntaxError, ParsedCall, arguments_dict, loads
from .scanning import BACKSLASH, JSON_QUOTES, Delimited, DelimitedFinder, Immediate

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


def handle_message(parser: StreamingParser, text: str, out: list[TextEvent]) -> None:
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
    name = recipient.group("to")
    name = name[len("functions."):] if name.startswith("functions.") else name
    try:
        arguments = arguments_dict(loads(body, f"the arguments of {name!r}"), name)
    except CallSyntaxError as exc:
        reason = MALFORMED if terminator else INCOMPLETE
        parser.reject(out, text, reason, str(exc))
        return
    parser.accept(out, ParsedCall(name, arguments), text)


def handle_terminator(parser: StreamingParser, text: str, out: list[TextEvent]) -> None:
    """``<|end|>``, ``<|return|>``, ``<|call|>``: the message ends; back to content."""
    parser.silent(out, text)
    parser.channel = "content"


HARMONY = Format("harmony", [
    Rule(START, HarmonyEnd(), handle=handle_message, what="harmony message"),
    Rule(CHANNEL, HarmonyEnd(), handle=handle_message, what="harmony message"),
    *(Rule(t, Immediate(), handle=handle_terminator) for t in TERMINATORS),
])
