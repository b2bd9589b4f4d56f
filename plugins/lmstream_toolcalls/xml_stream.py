"""Argument streaming for XML-style calls (Qwen3-Coder, Seed-OSS, MiniMax-M2, DSML).

The arguments are synthesized as the canonical JSON of the final call (``{"key": value, ...}``
with ``json.dumps`` spacing): a string parameter's text is sent as it arrives; a typed one
(integer, object, ...) is sent whole once its value is certain. Where a value ends follows the
parser's rule exactly (the first ``</parameter>`` unless a new parameter opens before it), so
text is only sent once no later text can change it.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from typing import Any, Protocol

from .calls import CallSyntaxError
from .deltas import Piece
from .tools import ToolBox, schema_types

SHORT_LIMIT = 1024
"""An unclosed tag longer than this is text, not a tag that may still complete."""

_WS = re.compile(r"\s*")


class Grammar(Protocol):
    """What the streamer needs of ``xml_formats.XmlGrammar``."""

    @property
    def function(self) -> re.Pattern[str]: ...
    @property
    def function_end(self) -> str: ...
    @property
    def parameter(self) -> re.Pattern[str]: ...
    @property
    def parameter_end(self) -> str: ...
    @property
    def trim_newlines(self) -> bool: ...


ValueFunction = Callable[[str, Any, "str | None", "dict[str, Any] | None", str], Any]
"""``xml_formats._value(raw, grammar, string_flag, schema, key)``."""


def _dumps(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False)


class XmlCallStream:
    """Streams the functions of one XML call region."""

    def __init__(self, start: int, grammar: Grammar, tools: ToolBox, value: ValueFunction) -> None:
        self.pos, self.grammar, self.tools, self.value_of = start, grammar, tools, value
        self.ends = re.compile("|".join([
            f"(?P<pend>{re.escape(grammar.parameter_end)})",
            f"(?P<fend>{re.escape(grammar.function_end)})",
            f"(?P<open>{grammar.parameter.pattern})",
        ]))
        self.state = "between"
        self.slot = -1
        self.name = ""
        self.first = True
        # the open value
        self.key = ""
        self.flag: str | None = None
        self.streaming = False
        self.value_start = self.sent_to = self.scan = 0
        self.blocked = -1

    def update(self, buf: str) -> list[Piece]:
        """Pieces for the text added since the last call."""
        out: list[Piece] = []
        while self.state != "dead" and self._step(buf, out):
            pass
        return out

    def _tag_pending(self, buf: str, pos: int) -> bool:
        """True when ``buf[pos:]`` is an unfinished tag that may still become a known one."""
        return buf.startswith("<", pos) and buf.find(">", pos) == -1 and len(buf) - pos <= SHORT_LIMIT

    def _step(self, buf: str, out: list[Piece]) -> bool:
        if self.state == "value":
            return self._value(buf, out)
        g = self.grammar
        pos = _WS.match(buf, self.pos).end()  # type: ignore[union-attr]
        if pos >= len(buf):
            return False
        if self.state == "between":
            m = g.function.match(buf, pos)
            if m is None:
                if not self._tag_pending(buf, pos):
                    self.state = "dead"
                return False
            name = m.group("name").strip()
            if not name:
                self.state = "dead"
                return False
            self.slot += 1
            self.name, self.first = name, True
            out.append(Piece(self.slot, name=name))
            out.append(Piece(self.slot, text="{"))
            self.pos, self.state = m.end(), "params"
            return True
        # "params"
        if buf.startswith(g.function_end, pos):
            self.pos, self.state = pos + len(g.function_end), "between"
            return True
        m = g.parameter.match(buf, pos)
        if m is None:
            if not self._tag_pending(buf, pos):
                self.state = "dead"
            return False
        self.key = m.group("key").strip()
        self.flag = m.groupdict().get("string")
        schema = self.tools.parameter_schema(self.name, self.key)
        types = schema_types(schema)
        self.streaming = self.flag == "true" or (self.flag is None and (not types or types == {"string"}))
        head = ("" if self.first else ", ") + _dumps(self.key) + ": "
        self.first = False
        out.append(Piece(self.slot, text=head + ('"' if self.streaming else "")))
        self.value_start = self.sent_to = self.scan = m.end()
        self.blocked = -1
        self.pos, self.state = m.end(), "value"
        return True

    def _value(self, buf: str, out: list[Piece]) -> bool:
        """Send what is certain of the open value; close it when its end is certain."""
        m = self.ends.search(buf, self.scan)
        while m is not None and m.lastgroup == "fend":
            if self.blocked == -1:
                self.blocked = m.start()  # the value ends here only if no </parameter> follows
            m = self.ends.search(buf, m.end())
        if m is None:
            lt = buf.rfind("<", self.scan)
            hold = lt if lt != -1 and self._tag_pending(buf, lt) else len(buf)
            self.scan = hold
            self._send(buf, hold if self.blocked == -1 else self.blocked, False, out)
            return False
        if m.lastgroup == "pend":
            end, self.pos = m.start(), m.end()
        else:  # a new parameter opens: the value ran to it (or to an earlier </function>)
            end = m.start() if self.blocked == -1 else self.blocked
            self.pos = end
        self.state = "params"
        self._send(buf, end, True, out)
        return self.state != "dead"

    def _send(self, buf: str, upto: int, done: bool, out: list[Piece]) -> None:
        trim = self.grammar.trim_newlines
        if not done:
            if trim and upto > self.value_start and buf[upto - 1] == "\n":
                upto -= 1  # may be the newline dropped before the closing tag
            if not self.streaming or upto <= self.sent_to:
                return
            start = self.sent_to
            if trim and start == self.value_start and buf.startswith("\n", start):
                start += 1
            if upto > start:
                out.append(Piece(self.slot, text=_dumps(buf[start:upto])[1:-1]))
            self.sent_to = max(upto, start)
            return
        raw = buf[self.value_start:upto]
        if self.streaming:
            if trim:
                raw = raw[:-1] if raw.endswith("\n") else raw
            start = self.sent_to - self.value_start
            if trim and start == 0 and raw.startswith("\n"):
                start = 1
            out.append(Piece(self.slot, text=_dumps(raw[start:])[1:-1] + '"'))
            return
        try:
            value = self.value_of(raw, self.grammar, self.flag,
                                  self.tools.parameter_schema(self.name, self.key), self.key)
        except CallSyntaxError:
            self.state = "dead"
            return
        out.append(Piece(self.slot, text=_dumps(value)))
