"""Tool-call argument deltas: the bookkeeping that turns what a format's streamer learns about an
open call into ``ToolCallDelta`` events, and closes each streamed call consistently.

Contract (tested for every format): the joined ``arguments_delta`` of one call is JSON that
``json.loads`` to exactly the final ``ToolCall.arguments``; nothing is sent before the model
wrote it; a call that ends up rejected ends with a ``RejectedToolCall`` carrying its index.

A format streams a call while it is generated when its ``Rule`` has a ``stream`` factory (a
``CallStream``); otherwise the whole call is sent as one delta when it is parsed. A streamer
sends either a prefix of the canonical ``json.dumps(arguments, ensure_ascii=False)`` (formats
whose values are synthesized) or the model's own JSON text (JSON-bodied formats); when the call
closes, the last delta is the rest of the canonical text (or nothing, when the model's own text
is already complete). Streamers see the same text however it was cut (the closing region is
fed to them whole before the call is parsed), so the joined deltas do not depend on cutting.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

from .tools import ToolBox


@dataclass
class Piece:
    """What a streamer learned about call ``slot`` of the open region (slots count from 0).

    ``name`` is set once, when the call's name is certain; ``text`` is argument JSON text.
    """

    slot: int
    name: str | None = None
    id: str | None = None
    text: str = ""


class CallStream(Protocol):
    """Reads one open region as it grows; one fresh instance per region."""

    def update(self, buf: str) -> list[Piece]:
        """What ``buf`` (the region so far; it only grows) adds to what was returned before."""
        ...


StreamFactory = Callable[[int, ToolBox], CallStream]
"""``factory(marker_end, tools)``: a streamer for a region whose start marker ends there."""


@dataclass
class Slot:
    """One call of the open region as streamed so far."""

    name: str | None = None
    id: str | None = None
    index: int | None = None
    sent: list[str] = field(default_factory=list)


def canonical(arguments: dict[str, Any]) -> str:
    """The JSON text a synthesized argument stream is a prefix of."""
    return json.dumps(arguments, ensure_ascii=False)


def closing_text(slot: Slot, arguments: dict[str, Any]) -> str | None:
    """The last delta text of a streamed call, or None when what was sent cannot complete."""
    sent = "".join(slot.sent)
    whole = canonical(arguments)
    if whole.startswith(sent):
        return whole[len(sent):]
    try:
        same = json.loads(sent) == arguments
    except (ValueError, RecursionError):
        same = False
    return "" if same else None


class RegionDeltas:
    """Streamed calls of the open region, matched in order to the region's parse result."""

    __slots__ = ("cursor", "seen", "slots", "stream")

    def __init__(self, stream: CallStream | None) -> None:
        self.stream = stream
        self.slots: list[Slot] = []
        self.cursor = 0
        self.seen = 0

    def update(self, buf: str, open_call: Callable[[Slot], None],
               send: Callable[[Slot, str], None]) -> None:
        """Feed the streamer; new names open calls (``open_call``), argument text is sent."""
        if self.stream is None or len(buf) <= self.seen:
            return  # streamers only ever see the region grow
        self.seen = len(buf)
        try:
            pieces = self.stream.update(buf)
        except Exception:  # a streamer bug must not raise on model output: stop streaming;
            self.stream = None  # the calls are still parsed, and checked, when they close
            return
        slots = self.slots
        for piece in pieces:
            while piece.slot >= len(slots):
                slots.append(Slot())
            slot = slots[piece.slot]
            if piece.name is not None and slot.name is None:
                slot.name, slot.id = piece.name, piece.id
                open_call(slot)
            if piece.text and slot.index is not None:
                send(slot, piece.text)

    def take(self) -> Slot | None:
        """The streamed call matching the next accepted or rejected call of the region."""
        if self.cursor >= len(self.slots):
            return None
        slot = self.slots[self.cursor]
        self.cursor += 1
        return slot if slot.index is not None else None
