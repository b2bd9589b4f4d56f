"""Gemma: ``gemma4`` (``<|tool_call>call:name{k:<|"|>v<|"|>,n:3}<tool_call|>``) and
``function_gemma`` (``<start_function_call>call:name{k:<escape>v<escape>}<end_function_call>``).

Both write objects with bare keys and a special string delimiter; a small reader turns them into
Python values (nested objects and lists included).
"""

from __future__ import annotations

import json
import re
from typing import Any

from .base import Format
from .calls import CallSyntaxError, ParsedCall, ParseResult, inner
from .rules import Rule
from .scanning import Delimited
from .tools import ToolBox

_CALL = re.compile(r"\s*call:(?P<name>[\w.\-]+)\s*")
_BARE_END = re.compile(r"[,}\]]")
_KEY_END = re.compile(r"[:{}\[\],]")


class ObjectReader:
    """Reads Gemma's object notation: ``{key:value,...}``, ``[...]``, delimited strings, scalars."""

    def __init__(self, text: str, quote: str) -> None:
        self.text, self.quote, self.pos = text, quote, 0

    def _space(self) -> None:
        while self.pos < len(self.text) and self.text[self.pos].isspace():
            self.pos += 1

    def _string(self) -> str:
        start = self.pos + len(self.quote)
        end = self.text.find(self.quote, start)
        if end == -1:
            raise CallSyntaxError(f"unclosed {self.quote} string")
        self.pos = end + len(self.quote)
        return self.text[start:end]

    def value(self, depth: int = 0) -> Any:
        """The value at the current position."""
        if depth > 100:
            raise CallSyntaxError("arguments nested too deeply")
        self._space()
        text = self.text
        if text.startswith(self.quote, self.pos):
            return self._string()
        char = text[self.pos:self.pos + 1]
        if char == "{":
            return self._object(depth)
        if char == "[":
            return self._list(depth)
        m = _BARE_END.search(text, self.pos)
        end = m.start() if m else len(text)
        raw = text[self.pos:end].strip()
        self.pos = end
        if not raw:
            raise CallSyntaxError(f"expected a value at {text[self.pos:self.pos + 20]!r}")
        try:
            return json.loads(raw)
        except ValueError:
            return raw

    def _object(self, depth: int) -> dict[str, Any]:
        self.pos += 1
        result: dict[str, Any] = {}
        while True:
            self._space()
            if self.text.startswith("}", self.pos):
                self.pos += 1
                return result
            if self.text.startswith(self.quote, self.pos):
                key = self._string()
            else:
                m = _KEY_END.search(self.text, self.pos)
                if m is None or m.group() != ":":
                    raise CallSyntaxError(f"expected key: at {self.text[self.pos:self.pos + 20]!r}")
                key = self.text[self.pos:m.start()].strip()
                self.pos = m.start()
            self._space()
            if not self.text.startswith(":", self.pos) or not key:
                raise CallSyntaxError(f"expected key: at {self.text[self.pos:self.pos + 20]!r}")
            self.pos += 1
            result[key] = self.value(depth + 1)
            self._separator("}")

    def _list(self, depth: int) -> list[Any]:
        self.pos += 1
        result: list[Any] = []
        while True:
            self._space()
            if self.text.startswith("]", self.pos):
                self.pos += 1
                return result
            result.append(self.value(depth + 1))
            self._separator("]")

    def _separator(self, closer: str) -> None:
        self._space()
        if self.text.startswith(",", self.pos):
            self.pos += 1
        elif not self.text.startswith(closer, self.pos):
            raise CallSyntaxError(f"expected ',' or {closer!r} at {self.text[self.pos:self.pos + 20]!r}")


def gemma_calls(text: str, start: int, stop: int, quote: str) -> ParseResult:
    """``call:name{...}`` (one or more) in ``text[start:stop]``."""
    reader = ObjectReader(text[:stop], quote)
    reader.pos = start
    items: ParseResult = []
    while True:
        m = _CALL.match(reader.text, reader.pos)
        if m is None or not reader.text.startswith("{", m.end()):
            raise CallSyntaxError(f"expected call:name{{...}}, got {reader.text[reader.pos:][:30]!r}")
        reader.pos = m.end()
        arguments = reader.value()
        items.append(ParsedCall(m.group("name"), arguments, span=(m.start(), reader.pos)))
        reader._space()
        if reader.pos >= stop:
            return items
        if reader.text.startswith(",", reader.pos):
            reader.pos += 1


def _gemma(name: str, start: str, end: str, quote: str) -> Format:
    def parse(text: str, tools: ToolBox) -> ParseResult:
        body = inner(text, start, end)
        return gemma_calls(text, len(start), len(start) + len(body), quote)

    parse.__doc__ = f"call:name{{...}} between {start} and {end}."
    return Format(name, [Rule(start, Delimited([end], ((quote, quote),)), parse)])


GEMMA4 = _gemma("gemma4", "<|tool_call>", "<tool_call|>", '<|"|>')
FUNCTION_GEMMA = _gemma("function_gemma", "<start_function_call>", "<end_function_call>",
                        "<escape>")
