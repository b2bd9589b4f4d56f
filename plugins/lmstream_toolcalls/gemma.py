"""Gemma: ``gemma4`` (``<|tool_call>call:name{k:<|"|>v<|"|>,n:3}<tool_call|>``) and
``function_gemma`` (``<start_function_call>call:name{k:<escape>v<escape>}<end_function_call>``).

Both write objects with bare keys and a special string delimiter; a small reader turns them into
Python values (nested objects and lists included). The comma between two key/value pairs may be
missing (FunctionGemma writes ``{a:<escape>x<escape>b:<escape>y<escape>}``, and its reference
parser reads the pairs by pattern); FunctionGemma's delimited top-level values are typed by the
parameter's schema, or, without one, read as JSON when they are JSON (``<escape>42<escape>`` is
42), as its reference parser does.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Callable
from typing import Any

from .base import Format
from .calls import CallSyntaxError, ParsedCall, ParseResult, inner
from .rules import Rule
from .scanning import Delimited
from .tools import ToolBox, coerce_value, schema_types

_CALL = re.compile(r"\s*call:(?P<name>[\w.\-]+)\s*")
_BARE_END = re.compile(r"[,}\]]")
_KEY_END = re.compile(r"[:{}\[\],]")
_KEY_START = re.compile(r"[\w\-.]+\s*:")
_LOOSE_FLOAT = re.compile(r"-?(?:\d{1,300}\.|\.\d{1,300})")
"""Numbers JSON refuses but models write (``108.``, ``.5``); vLLM's gemma4 parser reads them."""


class ObjectReader:
    """Reads Gemma's object notation: ``{key:value,...}``, ``[...]``, delimited strings, scalars."""

    def __init__(self, text: str, quote: str,
                 string_hook: Callable[[str, str], Any] | None = None) -> None:
        self.text, self.quote, self.pos = text, quote, 0
        self.string_hook = string_hook
        """Types a top-level delimited value: ``hook(key, text) -> value``."""

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
            value = json.loads(raw)
        except (ValueError, RecursionError):
            return float(raw) if _LOOSE_FLOAT.fullmatch(raw) else raw
        return raw if isinstance(value, float) and not math.isfinite(value) else value

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
            self._space()
            if self.text.startswith((",", "}"), self.pos):  # key: with no value (the reference
                result[key] = ""                             # parser reads "")
            elif depth == 0 and self.string_hook and self.text.startswith(self.quote, self.pos):
                result[key] = self.string_hook(key, self._string())
            else:
                result[key] = self.value(depth + 1)
            self._separator("}", optional=True)

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

    def _separator(self, closer: str, optional: bool = False) -> None:
        """A comma, or the closer next; ``optional``: the next key may follow directly."""
        self._space()
        if self.text.startswith(",", self.pos):
            self.pos += 1
        elif not self.text.startswith(closer, self.pos) and not (
                optional and _KEY_START.match(self.text, self.pos)):
            raise CallSyntaxError(f"expected ',' or {closer!r} at {self.text[self.pos:self.pos + 20]!r}")


def typed_strings(tools: ToolBox, name: str) -> Callable[[str, str], Any]:
    """FunctionGemma's delimited values: by the parameter's schema, else JSON when they are."""
    def hook(key: str, raw: str) -> Any:
        schema = tools.parameter_schema(name, key)
        if schema_types(schema):
            return coerce_value(raw, schema)
        try:
            value = json.loads(raw)
        except (ValueError, RecursionError):
            return raw
        return raw if isinstance(value, float) and not math.isfinite(value) else value

    return hook


def gemma_calls(text: str, start: int, stop: int, quote: str,
                tools: ToolBox | None = None) -> ParseResult:
    """``call:name{...}`` (one or more) in ``text[start:stop]``; with ``tools``, delimited
    top-level values are typed (``typed_strings``)."""
    reader = ObjectReader(text[:stop], quote)
    reader.pos = start
    items: ParseResult = []
    while True:
        m = _CALL.match(reader.text, reader.pos)
        if m is None or not reader.text.startswith("{", m.end()):
            raise CallSyntaxError(f"expected call:name{{...}}, got {reader.text[reader.pos:][:30]!r}")
        reader.pos = m.end()
        reader.string_hook = typed_strings(tools, m.group("name")) if tools is not None else None
        arguments = reader.value()
        items.append(ParsedCall(m.group("name"), arguments, span=(m.start(), reader.pos)))
        reader._space()
        if reader.pos >= stop:
            return items
        if reader.text.startswith(",", reader.pos):
            reader.pos += 1


def _gemma(name: str, start: str, end: str, quote: str, typed: bool = False) -> Format:
    def parse(text: str, tools: ToolBox) -> ParseResult:
        body = inner(text, start, end)
        return gemma_calls(text, len(start), len(start) + len(body), quote,
                           tools if typed else None)

    parse.__doc__ = f"call:name{{...}} between {start} and {end}."
    return Format(name, [Rule(start, Delimited([end], ((quote, quote),), exclusive=[start]), parse,
                              complete_at_end=True)])


GEMMA4 = _gemma("gemma4", "<|tool_call>", "<tool_call|>", '<|"|>')
FUNCTION_GEMMA = _gemma("function_gemma", "<start_function_call>", "<end_function_call>",
                        "<escape>", typed=True)
