"""How a parser turns text and parse results into events: content chunks, silent text, calls
(validated, with unique ids), rejections and argument deltas. ``StreamingParser`` (``base``)
inherits it and adds the scanning loop; custom region handlers call these methods.

Whitespace-only content at a call boundary (the start of the stream, or after a call) is held:
it becomes content only when real text follows it, and silent text when a call follows it or
the stream ends after a call. So the newline a model writes between two parallel calls, or
after its last call, is never a content chunk of its own, while text before or after the calls
keeps every character.
"""

from __future__ import annotations

from typing import Protocol

from lmstream import Channel, Chunk, RejectedToolCall, TextEvent, ToolCall, ToolCallDelta

from .calls import MALFORMED, BadCall, ParsedCall, ParseResult, new_call_id
from .deltas import RegionDeltas, Slot, canonical, closing_text
from .tools import ToolBox


class NamedFormat(Protocol):
    """What the event side needs of a parser's format (``base.Format``): its name, for errors."""

    @property
    def name(self) -> str:
        """The format's registered name."""


class EventEmitter:
    """The event side of a parser; the state it uses is set up by ``StreamingParser``."""

    format: NamedFormat
    tools: ToolBox
    channel: Channel
    silent_text: list[tuple[int, str]]
    call_text: dict[str, str]
    _emitted: int
    _merge_ok: bool
    _ids: set[str]
    _deltas: bool
    _region: RegionDeltas | None
    _next_index: int
    _boundary: bool
    """At a call boundary (the stream's start, or just after a call): whitespace is held."""
    _held_space: str
    """Whitespace-only content held at a boundary until what follows it decides."""
    _called: bool
    """Whether a call (accepted or rejected) was emitted: held whitespace at the end is silent."""

    # -- helpers for handlers -------------------------------------------------------------
    def emit_text(self, out: list[TextEvent], text: str, channel: Channel | None = None) -> None:
        """Append content (or reasoning) text, merged into the previous chunk when adjacent."""
        if not text:
            return
        channel = channel or self.channel
        if self._boundary:
            if channel == "content" and text.isspace():
                self._held_space += text  # a call or real text decides what it is
                return
            self._boundary = False
            held, self._held_space = self._held_space, ""
            if held and channel == "content":
                text = held + text
            elif held:
                self.emit_text(out, held, "content")
        if self._merge_ok and out:
            last = out[-1]
            if isinstance(last, Chunk) and last.channel == channel:
                out[-1] = Chunk(last.text + text, channel=channel)
                return
        out.append(Chunk(text, channel=channel))
        self._merge_ok = True

    def silent(self, out: list[TextEvent], text: str) -> None:
        """Account for text that has no event of its own (it sits before the next event)."""
        if self._held_space:  # whitespace before markers or a call is not content
            held, self._held_space = self._held_space, ""
            self.silent_text.append((self._emitted + len(out), held))
        if text:
            self.silent_text.append((self._emitted + len(out), text))
            self._merge_ok = False

    def end_text(self, out: list[TextEvent]) -> None:
        """End of stream: held whitespace is silent after a call, else content (a reply of
        only whitespace stays what it was)."""
        if not self._held_space:
            return
        if self._called:
            self.silent(out, "")
        else:
            held, self._held_space = self._held_space, ""
            self._boundary = False
            self.emit_text(out, held, "content")

    def _after_call(self) -> None:
        """A call event was emitted: whitespace that follows it is held."""
        self._boundary = self._called = True

    def reject(self, out: list[TextEvent], text: str, reason: str, detail: str,
               _slot: Slot | None = None, _call: ParsedCall | None = None) -> None:
        """Emit a RejectedToolCall carrying the raw text (and the index of a streamed call)."""
        slot = _slot if _slot is not None else self._take_slot()
        name, arguments = (_call.name, _call.arguments) if _call is not None else (None, None)
        self.silent(out, "")
        out.append(RejectedToolCall(text, reason, detail, slot.index if slot else None, name,
                                    arguments))
        self._merge_ok = False
        self._after_call()

    def accept(self, out: list[TextEvent], call: ParsedCall, text: str) -> None:
        """Validate a parsed call against the declared tools; emit ToolCall or RejectedToolCall."""
        slot = self._take_slot()
        problem = self.tools.check(call.name, call.arguments)
        if problem is not None:
            self.reject(out, text, *problem, _slot=slot, _call=call)
            return
        index: int | None = None
        if slot is not None:
            tail = closing_text(slot, call.arguments) if slot.name == call.name else None
            if tail is None:
                self.reject(out, text, MALFORMED, f"the call to {call.name!r} changed after its "
                            "arguments were streamed", _slot=slot)
                return
            assert slot.id is not None and slot.index is not None
            call_id, index = slot.id, slot.index
            self.silent(out, text)
            if tail:
                out.append(ToolCallDelta(index, call_id, call.name, tail))
        else:
            call_id = self._unique_id(call.id)
            self.silent(out, text)
            if self._deltas:
                index = self._next_index
                self._next_index += 1
                out.append(ToolCallDelta(index, call_id, call.name, canonical(call.arguments)))
        self.call_text[call_id] = text
        out.append(ToolCall(call_id, call.name, call.arguments, index))
        self._after_call()

    def handle_parsed(self, out: list[TextEvent], text: str, items: ParseResult) -> None:
        """Turn a region's parse result into events; text between the calls is silent."""
        if len(items) == 1:
            items = [_whole(items[0], len(text))]
        cursor = 0
        for item in items:
            if item.span is None:
                raise AssertionError(f"{self.format.name}: calls in a multi-call region need spans")
            start, end = item.span
            self.silent(out, text[cursor:start])
            piece = text[start:end]
            if isinstance(item, BadCall):
                self.reject(out, piece, item.reason, item.detail)
            else:
                self.accept(out, item, piece)
            cursor = end
        self.silent(out, text[cursor:])

    # -- argument deltas ------------------------------------------------------------------
    def _unique_id(self, call_id: str | None) -> str:
        """The model's id when it has one not used yet, else a fresh one."""
        chosen = call_id if call_id and call_id not in self._ids else new_call_id()
        self._ids.add(chosen)
        return chosen

    def _take_slot(self) -> Slot | None:
        return self._region.take() if self._region is not None else None

    def _stream_region(self, out: list[TextEvent], buf: str) -> None:
        """Let the open region's streamer see ``buf``; emit the deltas it decided."""
        region = self._region
        if region is None or region.stream is None:
            return

        def open_call(slot: Slot) -> None:
            assert slot.name is not None
            if self.tools.declared and slot.name not in self.tools.tools:
                return  # an undeclared tool is rejected, never streamed
            slot.id, slot.index = self._unique_id(slot.id), self._next_index
            self._next_index += 1
            self.silent(out, "")
            out.append(ToolCallDelta(slot.index, slot.id, slot.name))
            self._merge_ok = False

        def send(slot: Slot, text: str) -> None:
            assert slot.index is not None and slot.id is not None and slot.name is not None
            slot.sent.append(text)
            last = out[-1] if out else None
            if isinstance(last, ToolCallDelta) and last.index == slot.index:
                out[-1] = ToolCallDelta(slot.index, slot.id, slot.name, last.arguments_delta + text)
            else:
                out.append(ToolCallDelta(slot.index, slot.id, slot.name, text))
            self._merge_ok = False

        region.update(buf, open_call, send)


def _whole(item: ParsedCall | BadCall, length: int) -> ParsedCall | BadCall:
    """A region's only call owns the whole region text (markers included)."""
    if isinstance(item, BadCall):
        return BadCall(item.detail, (0, length), item.reason)
    return ParsedCall(item.name, item.arguments, item.id, (0, length))
