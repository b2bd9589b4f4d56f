"""What a format's parse function returns, and helpers shared by the JSON-based formats."""

from __future__ import annotations

import json
import math
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

MALFORMED = "malformed"
INCOMPLETE = "incomplete"
UNDECLARED_TOOL = "undeclared_tool"
INVALID_ARGUMENTS = "invalid_arguments"
REASONS = (MALFORMED, INCOMPLETE, UNDECLARED_TOOL, INVALID_ARGUMENTS)


class CallSyntaxError(ValueError):
    """A call region that cannot be parsed; the message says what was expected."""


@dataclass(frozen=True)
class ParsedCall:
    """One call read from a region; ``span`` is its (start, end) in the region text.

    ``span`` may be None when the region holds exactly one call (the whole region is its text).
    """

    name: str
    arguments: dict[str, Any]
    id: str | None = None
    span: tuple[int, int] | None = None


@dataclass(frozen=True)
class BadCall:
    """One unusable call inside a region that holds several (or one with a specific reason)."""

    detail: str
    span: tuple[int, int] | None = None
    reason: str = MALFORMED


ParseResult = list[ParsedCall | BadCall]


def new_call_id() -> str:
    """A fresh, unique tool-call id in OpenAI's shape (``call_`` + 24 hex digits)."""
    return "call_" + uuid.uuid4().hex[:24]


def jsonable(value: Any) -> Any:
    """``value`` as JSON types (tuples become lists); ValueError for sets, bytes, non-str keys
    and floats that are not finite."""
    if isinstance(value, float) and not math.isfinite(value):
        raise ValueError(f"{value} is not a JSON number")
    if value is None or isinstance(value, (str, bool, int, float)):
        return value
    if isinstance(value, (list, tuple)):
        return [jsonable(v) for v in value]
    if isinstance(value, dict) and all(isinstance(k, str) for k in value):
        return {k: jsonable(v) for k, v in value.items()}
    raise ValueError(f"{type(value).__name__} is not a JSON value")


def inner(text: str, start: str, end: str) -> str:
    """The body between a region's start and end markers (the end may be missing)."""
    body = text[len(start):] if text.startswith(start) else text
    return body[: -len(end)] if end and body.endswith(end) else body


def _finite(text: str) -> float:
    """A JSON number as a float; CallSyntaxError when it is not finite (``1e999``): arguments
    must stay JSON, and ``json.dumps`` would write ``Infinity``."""
    value = float(text)
    if not math.isfinite(value):
        raise CallSyntaxError(f"the number {text[:40]} is out of range")
    return value


def _constant(text: str) -> float:
    """``NaN``, ``Infinity`` and ``-Infinity`` are not JSON."""
    raise CallSyntaxError(f"{text} is not a JSON value")


_DECODER = json.JSONDecoder(strict=False, parse_float=_finite, parse_constant=_constant)


def loads(text: str, what: str = "JSON") -> Any:
    """``json.loads`` that tolerates raw control characters (models emit raw newlines in strings)
    and raises CallSyntaxError naming the problem."""
    try:
        value, end = _DECODER.raw_decode(text.strip())
    except json.JSONDecodeError as exc:
        raise CallSyntaxError(f"{what} is not valid JSON: {exc.msg} at char {exc.pos}") from None
    except RecursionError:
        raise CallSyntaxError(f"{what} is nested too deeply") from None
    rest = text.strip()[end:].strip()
    if rest:
        raise CallSyntaxError(f"unexpected text after {what}: {rest[:40]!r}")
    return value


def decode_at(text: str, pos: int, what: str = "JSON value") -> tuple[Any, int]:
    """Decode one JSON value starting at ``pos`` (after whitespace); returns (value, end)."""
    while pos < len(text) and text[pos].isspace():
        pos += 1
    try:
        return _DECODER.raw_decode(text, pos)
    except json.JSONDecodeError as exc:
        raise CallSyntaxError(f"{what} is not valid JSON: {exc.msg} at char {exc.pos}") from None
    except RecursionError:
        raise CallSyntaxError(f"{what} is nested too deeply") from None


def arguments_dict(value: Any, name: str) -> dict[str, Any]:
    """Arguments as a dict: a dict as is, a JSON string decoded, missing/null as ``{}``."""
    if value is None:
        return {}
    if isinstance(value, str):
        value = loads(value, f"the arguments string of {name!r}") if value.strip() else {}
    if not isinstance(value, dict):
        raise CallSyntaxError(f"arguments of {name!r} must be an object, got {type(value).__name__}")
    return value


def json_call(obj: Any, arg_keys: tuple[str, ...] = ("arguments", "parameters"),
              span: tuple[int, int] | None = None) -> ParsedCall:
    """A call from ``{"name": ..., "arguments": {...}}`` (also OpenAI's ``{"function": {...}}``)."""
    if not isinstance(obj, dict):
        raise CallSyntaxError(f"a tool call must be a JSON object, got {type(obj).__name__}")
    if isinstance(obj.get("function"), dict) and "name" not in obj:
        inner = dict(obj["function"])
        inner.setdefault("id", obj.get("id"))
        obj = inner
    name = obj.get("name")
    if not isinstance(name, str) or not name.strip():
        raise CallSyntaxError("a tool call needs a non-empty string 'name'")
    value = next((obj[k] for k in arg_keys if k in obj), None)
    call_id = obj.get("id")
    return ParsedCall(name.strip(), arguments_dict(value, name), call_id if isinstance(call_id, str)
                      and call_id else None, span)


def json_array_items(text: str, start: int) -> Iterator[tuple[Any, tuple[int, int]]]:
    """Items of the JSON array opening at ``text[start]`` with their spans."""
    if text[start:start + 1] != "[":
        raise CallSyntaxError("expected a JSON array")
    pos = start + 1
    while pos < len(text) and text[pos].isspace():
        pos += 1
    if text[pos:pos + 1] == "]":
        return
    while True:
        while pos < len(text) and text[pos].isspace():
            pos += 1
        item_start = pos
        value, pos = decode_at(text, pos, "an array item")
        yield value, (item_start, pos)
        while pos < len(text) and text[pos].isspace():
            pos += 1
        sep = text[pos:pos + 1]
        if sep == "]":
            return
        if sep != ",":
            raise CallSyntaxError(f"expected ',' or ']' in the call list, got {sep or 'the end'!r}")
        pos += 1


def json_calls(text: str, start: int) -> ParseResult:
    """Calls from a JSON array (or a single object) at ``start``; bad items become BadCalls."""
    while start < len(text) and text[start].isspace():
        start += 1
    if text[start:start + 1] == "{":
        value, _end = decode_at(text, start, "the tool call")
        return [json_call(value)]
    items: ParseResult = []
    for value, span in json_array_items(text, start):
        try:
            items.append(json_call(value, span=span))
        except CallSyntaxError as exc:
            items.append(BadCall(str(exc), span))
    if not items:
        raise CallSyntaxError("the call list is empty")
    return items
