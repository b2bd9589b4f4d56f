"""Argument streaming for JSON-bodied calls: the model's JSON text passes through as deltas.

``JsonPass`` follows one JSON value (strings, nesting) and hands back its text as it arrives,
with raw control characters inside strings escaped (models write raw newlines; ``json.loads``
refuses them). ``JsonCallStream`` reads ``{"name": ..., "arguments": {...}}`` objects (one, or
a list / ``;``-separated run) and streams each call's arguments once its name is known.
``HeaderStream`` is for formats that write the name in a header before a JSON body (Mistral's
``name[ARGS]{...}``, Kimi, DeepSeek-V3.1, Harmony). All are linear: each character is looked
at a bounded number of times, with regular expressions doing the skipping.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable

from .deltas import Piece
from .tools import ToolBox

_WS = re.compile(r"[ \t\n\r]*")
_STRING = re.compile(r'"(?:[^"\\]|\\.)*"', re.DOTALL)
_IN_STRING = re.compile(r'["\\\x00-\x1f]')
_STRUCTURE = re.compile(r'[{}\[\]"]')
_SCALAR = re.compile(r"[^\s,}\]]*")
SHORT_LIMIT = 1024
"""A key, name or id longer than this stops streaming (the call is still parsed at its end)."""


def _escape(char: str) -> str:
    return json.dumps(char)[1:-1]


class JsonPass:
    """Follows one JSON value from its first character; ``feed`` returns (text, finished)."""

    __slots__ = ("depth", "in_string", "pos", "scalar")

    def __init__(self, pos: int) -> None:
        self.pos, self.depth, self.in_string, self.scalar = pos, 0, False, False

    def feed(self, buf: str) -> tuple[str, bool]:
        """The value's text from ``pos`` on that is certain, and whether the value ended."""
        pos, n, parts = self.pos, len(buf), []
        if self.depth == 0 and not self.in_string:
            if pos >= n:
                return "", False
            first = buf[pos]
            if first not in '{["':
                m = _SCALAR.match(buf, pos)
                assert m is not None
                if m.end() == n:
                    return "", False
                self.pos = m.end()
                return m.group(), True
        while pos < n:
            if self.in_string:
                m = _IN_STRING.search(buf, pos)
                if m is None:
                    parts.append(buf[pos:])
                    pos = n
                    break
                at = m.start()
                parts.append(buf[pos:at])
                char = m.group()
                if char == '"':
                    parts.append(char)
                    pos, self.in_string = at + 1, False
                    if self.depth == 0:
                        self.pos = pos
                        return "".join(parts), True
                elif char == "\\":
                    if at + 1 >= n:
                        pos = at
                        break
                    parts.append(buf[at:at + 2])
                    pos = at + 2
                else:
                    parts.append(_escape(char))
                    pos = at + 1
            else:
                m = _STRUCTURE.search(buf, pos)
                if m is None:
                    parts.append(buf[pos:])
                    pos = n
                    break
                end = m.end()
                parts.append(buf[pos:end])
                pos = end
                char = m.group()
                if char == '"':
                    self.in_string = True
                elif char in "{[":
                    self.depth += 1
                else:
                    self.depth -= 1
                    if self.depth <= 0:
                        self.pos = pos
                        return "".join(parts), True
        self.pos = pos
        return "".join(parts), False


def _short_string(buf: str, pos: int) -> tuple[str | None, int, bool]:
    """A complete JSON string at ``pos``: (value, end, wait). ``wait``: not complete yet."""
    m = _STRING.match(buf, pos)
    if m is None:
        complete = buf.find('"', pos + 1) != -1 and len(buf) - pos > SHORT_LIMIT
        return None, pos, not complete and len(buf) - pos <= SHORT_LIMIT
    if m.end() - pos > SHORT_LIMIT:
        return None, pos, False
    try:
        value = json.loads(m.group())
    except ValueError:
        return None, pos, False
    return value, m.end(), False


class JsonCallStream:
    """Streams ``{"name": ..., "arguments": {...}}`` objects; ``many``: a list or a run of them."""

    def __init__(self, start: int, arg_keys: tuple[str, ...] = ("arguments", "parameters"),
                 many: bool = False, separators: str = "[,;") -> None:
        self.pos, self.arg_keys, self.many, self.separators = start, arg_keys, many, separators
        self.state = "outer"
        self.slot = -1
        self.key = ""
        self.name: str | None = None
        self.id: str | None = None
        self.streamed = False
        self.value: JsonPass | None = None

    def update(self, buf: str) -> list[Piece]:
        """Pieces for the text added since the last call."""
        out: list[Piece] = []
        while self.state != "dead" and self._step(buf, out):
            pass
        return out

    def _step(self, buf: str, out: list[Piece]) -> bool:
        """Advance one state; False when more text is needed (or streaming stopped)."""
        n = len(buf)
        state = self.state
        if state in ("value", "args"):
            assert self.value is not None
            text, done = self.value.feed(buf)
            if text and state == "args":
                out.append(Piece(self.slot, text=text))
            if not done:
                return False
            self.pos, self.value, self.state = self.value.pos, None, "after"
            return True
        pos = _WS.match(buf, self.pos).end()  # type: ignore[union-attr]
        self.pos = pos
        if pos >= n:
            return False
        char = buf[pos]
        if state == "outer":
            if self.many and char in self.separators:
                self.pos = pos + 1
                return True
            if char != "{" or (self.slot >= 0 and not self.many):
                self.state = "dead"
                return False
            self.slot += 1
            self.name = self.id = None
            self.streamed = False
            self.pos, self.state = pos + 1, "key"
            return True
        if state == "key":
            if char == "}":
                self.pos, self.state = pos + 1, "outer"
                return True
            key, end, wait = _short_string(buf, pos) if char == '"' else (None, pos, False)
            if not isinstance(key, str):
                self.state = "dead" if not wait else state
                return False
            self.key, self.pos, self.state = key, end, "colon"
            return True
        if state == "colon":
            if char != ":":
                self.state = "dead"
                return False
            self.pos, self.state = pos + 1, "start"
            return True
        if state == "start":
            return self._start_value(buf, pos, out)
        # "after": a value ended
        if char == ",":
            self.pos, self.state = pos + 1, "key"
            return True
        if char == "}":
            self.pos, self.state = pos + 1, "outer"
            return True
        self.state = "dead"
        return False

    def _start_value(self, buf: str, pos: int, out: list[Piece]) -> bool:
        key, char = self.key, buf[pos]
        if key in ("name", "id") and char == '"':
            value, end, wait = _short_string(buf, pos)
            if not isinstance(value, str):
                self.state = "dead" if not wait else "start"
                return False
            self.pos, self.state = end, "after"
            if key == "id":
                self.id = self.id or value
            elif self.name is None and value.strip():
                self.name = value.strip()
                out.append(Piece(self.slot, name=self.name, id=self.id))
            return True
        if key == "function":
            self.state = "dead"  # OpenAI's nested shape: sent whole when parsed
            return False
        stream = key in self.arg_keys and char == "{" and self.name is not None \
            and not self.streamed
        if key in self.arg_keys:
            self.streamed = True
        self.value = JsonPass(pos)
        self.state = "args" if stream else "value"
        return True


class HeaderStream:
    """A header that names the call (a regex with groups ``name`` and optionally ``id``), then a
    JSON object body; ``repeat``: more header + body pairs may follow (a section)."""

    def __init__(self, start: int, header: re.Pattern[str], repeat: bool = False,
                 name_of: Callable[[re.Match[str]], str | None] | None = None) -> None:
        self.pos, self.header, self.repeat = start, header, repeat
        self.name_of = name_of or (lambda m: m.group("name").strip() or None)
        self.slot = -1
        self.value: JsonPass | None = None
        self.dead = False

    def update(self, buf: str) -> list[Piece]:
        """Pieces for the text added since the last call."""
        out: list[Piece] = []
        while not self.dead:
            if self.value is None:
                if self.slot >= 0 and not self.repeat:
                    self.dead = True
                    break
                m = self.header.match(buf, self.pos)
                if m is None:
                    self.dead = len(buf) - self.pos > SHORT_LIMIT
                    break
                self.slot += 1
                name = self.name_of(m)
                if name is None:
                    self.dead = True
                    break
                groups = m.groupdict()
                out.append(Piece(self.slot, name=name, id=groups.get("id")))
                self.pos = m.end()
                if buf[self.pos:self.pos + 1] != "{":
                    self.dead = self.pos < len(buf)
                    if not self.dead:  # the body has not started yet
                        self.value = JsonPass(self.pos)
                    break
                self.value = JsonPass(self.pos)
            if self.value.pos == self.pos and buf[self.pos:self.pos + 1] not in ("", "{"):
                self.dead = True
                break
            text, done = self.value.feed(buf)
            if text:
                out.append(Piece(self.slot, text=text))
            if not done:
                break
            self.pos, self.value = self.value.pos, None
        return out


def json_call_stream(many: bool = False, arg_keys: tuple[str, ...] = ("arguments", "parameters"),
                     opens_at_start: bool = False, separators: str = "[,;",
                     ) -> Callable[[int, ToolBox], JsonCallStream]:
    """A ``Rule.stream`` factory for JSON call objects."""
    def factory(marker_end: int, tools: ToolBox) -> JsonCallStream:
        return JsonCallStream(0 if opens_at_start else marker_end, arg_keys, many, separators)

    return factory
