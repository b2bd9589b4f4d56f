"""The streaming machinery every format shares: text scanning with marker hold-back, call
regions, validation, ids and the accounting that proves no character is lost.

A format is a list of ``Rule``s: a start marker, how the region ends (``scanning``) and how a
complete region is parsed. ``StreamingParser`` does the rest, identically for every format.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from lmstream import Channel, Chunk, TextEvent, ToolSpec

from .calls import INCOMPLETE, MALFORMED, CallSyntaxError, ParsedCall, ParseResult
from .deltas import RegionDeltas
from .emitting import EventEmitter
from .matching import StartTable
from .reasoning import REASONING_BLOCKS, Openings, ReasoningBlock
from .rules import Rule
from .scanning import Finder
from .tools import ToolBox

GROWTH = 64
"""An open region's buffer is re-joined once the unread text reaches 1/GROWTH of it."""

@dataclass
class Format:
    """A named tool-call syntax: its rules, compiled once and shared by every parser."""

    name: str
    rules: Sequence[Rule]
    opening: Sequence[Rule] = ()
    """Rules whose (literal) start marker counts only at the very start of the stream, after
    optional whitespace (Harmony's recipient in the role header); they cost plain text nothing."""
    reasoning: Sequence[tuple[str, str]] = REASONING_BLOCKS
    """(opening, closing) markers of reasoning blocks: plain text in which no call starts."""
    _table: StartTable | None = field(default=None, repr=False)
    _openings: Openings | None = field(default=None, repr=False)

    @property
    def table(self) -> StartTable:
        """The compiled start markers."""
        if self._table is None:
            self._table = StartTable([r.start for r in self.rules])
        return self._table

    @property
    def openings(self) -> Openings:
        """The reasoning-block openings."""
        if self._openings is None:
            self._openings = Openings(self.reasoning)
        return self._openings

    def parser(self, tools: Sequence[ToolSpec | dict[str, Any]] | None = None) -> StreamingParser:
        """A fresh parser for one generation (this is the registered factory)."""
        return StreamingParser(self, tools)


class StreamingParser(EventEmitter):
    """Feeds text through a Format; emits content, reasoning, ToolCall and RejectedToolCall events.

    Invariant (tested for every format): replaying the events in order, with ``silent_text``
    inserted before the event index it carries, gives back exactly the text that was fed.
    """

    format: Format

    def __init__(self, fmt: Format, tools: Sequence[ToolSpec | dict[str, Any]] | None = None,
                 ) -> None:
        self.format = fmt
        self.tools = ToolBox(tools)
        self.channel: Channel = "content"
        """Channel of plain text (Harmony switches it to ``reasoning`` for analysis messages)."""
        self.silent_text: list[tuple[int, str]] = []
        """Text consumed without an event of its own (markers, raw text of accepted calls),
        as (number of events emitted before it, text)."""
        self.call_text: dict[str, str] = {}
        """Raw text of each accepted call, by ToolCall id."""
        self.state: dict[str, Any] = {}
        """Scratch space for custom handlers."""
        table = fmt.table
        self._table = table
        self._openings = fmt.openings if fmt.reasoning else None
        self._triggers = tuple(sorted(set(table.first_chars) | set(fmt.openings.first_chars)))
        self._buf = ""
        self._pending: list[str] = []
        self._wait = 0  # characters an open call takes in before its next scan (_join_pending)
        self._rule: Rule | None = None
        self._finder: Finder | None = None
        self._quiet: ReasoningBlock | None = None  # inside a reasoning block
        self._emitted = 0
        self._merge_ok = False
        self._ids: set[str] = set()
        self._deltas = False
        self._region: RegionDeltas | None = None
        self._next_index = 0
        self._opening = [r for r in fmt.opening if isinstance(r.start, str)]
        self._boundary = True  # leading whitespace waits to see whether a call follows
        self._held_space = ""
        self._called = False
        self._plain = False  # becomes True once nothing is held: a delta without a trigger is content

    def stream_deltas(self, enabled: bool = True) -> None:
        """Emit ``ToolCallDelta`` events while calls are generated (before the first feed)."""
        self._deltas = enabled

    # -- the ToolParser protocol ----------------------------------------------------------
    def feed(self, text: str) -> list[TextEvent]:
        """Take the next text delta; return the events it decided."""
        if type(text) is str and text:  # the two common cases first, with as few steps as can be
            if self._plain:
                for char in self._triggers:  # `in` is a C-speed scan
                    if char in text:
                        break
                else:
                    self._emitted += 1
                    return [Chunk(text, (), 0, self.channel)]  # positional: cheaper
            elif (wait := self._wait - len(text)) > 0:  # in an open call, before its next scan
                self._wait = wait
                self._pending.append(text)
                return []
        return self._feed(text)

    def _feed(self, text: str) -> list[TextEvent]:
        """``feed`` beyond its fast paths: type check, opening markers, the next scan."""
        if not isinstance(text, str):
            raise TypeError(f"feed() takes the next text delta (a str), not {type(text).__name__}")
        if not text:
            return []
        if self._opening:
            return self._feed_opening(text)
        if self._plain:
            self._buf = text
        else:
            self._pending.append(text)
            self._join_pending()
        return self._run(final=False)

    def finish(self) -> list[TextEvent]:
        """End of stream: held text becomes content, an unclosed call is rejected."""
        if self._opening:
            self._opening = []
            held, self._buf = self._buf, ""
            return self.feed(held) + self._run(final=True) if held else self._run(final=True)
        if self._pending:
            self._join_pending()
        return self._run(final=True)

    def _feed_opening(self, text: str) -> list[TextEvent]:
        """The start of the stream: does it open with one of the format's opening markers?"""
        buf = self._buf + text
        head = buf.lstrip()
        for rule in self._opening:
            marker = rule.start
            assert isinstance(marker, str)
            if head.startswith(marker):
                self._opening = []
                self._buf = ""
                marker_end = len(buf) - len(head) + len(marker)
                self._rule, self._finder = rule, rule.end.new(marker_end)
                if self._deltas:
                    stream = rule.stream(marker_end, self.tools) if rule.stream else None
                    self._region = RegionDeltas(stream)
                self._buf = buf
                return self._run(final=False)
            if marker.startswith(head):
                self._buf = buf
                return []  # may still become the marker
        self._opening = []
        self._buf = ""
        return self.feed(buf)

    def _join_pending(self) -> None:
        """Append the pending deltas to the buffer: an open call grows in steps of 1/GROWTH of its
        size (decisions wait for at most that; copies stay linear), and with the attribute let go
        CPython grows the only reference in place (copying 10 MB 700 times took 0.5-1 s)."""
        pending = self._pending
        buf = self._buf
        self._buf = ""
        buf += pending[0] if len(pending) == 1 else "".join(pending)
        self._buf = buf
        pending.clear()

    # -- the loop -------------------------------------------------------------------------
    def _run(self, final: bool) -> list[TextEvent]:
        out: list[TextEvent] = []
        self._merge_ok = False
        progressed = True
        while progressed:
            if self._quiet is not None:
                progressed = self._scan_quiet(out, final)
            elif self._finder is None:
                progressed = self._scan_text(out, final)
            else:
                progressed = self._scan_region(out, final)
        if final:
            self.end_text(out)
        self._emitted += len(out)
        buf = self._buf
        quiet = self._quiet is not None
        self._plain = (not buf and self._finder is None and not self._opening and not quiet
                       and not self._boundary)
        self._wait = -(-len(buf) // GROWTH) if buf and not self._opening and not quiet else 0
        return out

    def _scan_quiet(self, out: list[TextEvent], final: bool) -> bool:
        """Inside a reasoning block: pass decided text through; True when something changed."""
        block = self._quiet
        assert block is not None
        length, outcome = block.scan(self._buf, self._table, final)
        self.emit_text(out, self._buf[:length])
        self._buf = self._buf[length:]
        if outcome in ("closed", "release"):
            self._quiet = None
            return True
        return outcome == "held"

    def _scan_text(self, out: list[TextEvent], final: bool) -> bool:
        """Emit decided text; open a region at the first start marker (returns True then)."""
        buf = self._buf
        if not buf:
            return False
        table = self._table
        m = table.search(buf)
        cut = m.start() if m is not None else len(buf)
        openings = self._openings
        if openings is not None and (found := openings.find(buf, cut)) is not None:
            at, opening, closing = found  # a reasoning block opens first: its text is plain text
            self.emit_text(out, buf[:at + len(opening)])
            self._buf, self._quiet = buf[at + len(opening):], ReasoningBlock(closing)
            return True
        index = table.rule_at(buf, cut) if m is not None else -1
        if not final:
            hold = -1
            if m is None or table.nested:
                p = table.partial_search(buf)
                if p is not None and p.start() < cut:
                    hold = p.start()
            if hold == -1 and index > 0 and table.earlier_partial(buf, cut, index):
                hold = cut
            if openings is not None and (rp := openings.partial(buf)) < cut and (
                    hold == -1 or rp < hold):
                hold = rp
            if hold != -1:
                self.emit_text(out, buf[:hold])
                self._buf = buf[hold:]
                return False
        self.emit_text(out, buf[:cut])
        if m is None:
            self._buf = ""
            return False
        rule = self.format.rules[index]
        self._buf = buf[cut:]
        self._rule, self._finder = rule, rule.end.new(m.end() - cut)
        if self._deltas:
            stream = rule.stream(m.end() - cut, self.tools) if rule.stream is not None else None
            self._region = RegionDeltas(stream)
        return True

    def _complete_body(self, rule: Rule, text: str) -> ParseResult | None:
        """The calls of an unclosed region when its body is complete and every call parses."""
        if not rule.complete_at_end or rule.parse is None:
            return None
        try:
            items = rule.parse(text, self.tools)
        except Exception:  # CallSyntaxError, or a parser bug: the region stays incomplete
            return None
        return items if items and all(isinstance(i, ParsedCall) for i in items) else None

    def _scan_region(self, out: list[TextEvent], final: bool) -> bool:
        """Close the open region when its end is known (returns True then)."""
        rule, finder, buf = self._rule, self._finder, self._buf
        assert rule is not None and finder is not None
        end = finder.scan(buf)
        if end is None:
            if self._region is not None:  # all of it, even when the call is cut at finish
                self._stream_region(out, buf)
            if not final:
                return False
            end = finder.at_finish(buf)
            if end is None:
                self._rule = self._finder = None
                self._buf = ""
                items = self._complete_body(rule, buf)
                if items is not None:
                    self.handle_parsed(out, buf, items)
                    return False
                if rule.text_if_unclosed:
                    self.emit_text(out, buf)
                    return False
                self.reject(out, buf, INCOMPLETE, f"{rule.what} was not closed before the end")
                return False
        text, self._buf = buf[:end], buf[end:]
        if self._region is not None:
            self._stream_region(out, text)
        self._rule = self._finder = None
        if rule.handle is not None:
            try:
                rule.handle(self, text, out)
            except Exception as exc:  # never raise on model output
                self.reject(out, text, MALFORMED, f"could not parse ({type(exc).__name__}: {exc})")
            return True
        assert rule.parse is not None
        try:
            items = rule.parse(text, self.tools)
        except CallSyntaxError as exc:
            self.reject(out, text, MALFORMED, str(exc))
            return True
        except Exception as exc:  # never raise on model output: a parser bug becomes a rejection
            self.reject(out, text, MALFORMED, f"could not parse ({type(exc).__name__}: {exc})")
            return True
        if not items:
            self.reject(out, text, MALFORMED, f"no {rule.what} found")
            return True
        self.handle_parsed(out, text, items)
        return True

