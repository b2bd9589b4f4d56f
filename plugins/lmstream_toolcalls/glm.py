"""GLM: ``<tool_call>name<arg_key>k</arg_key><arg_value>v</arg_value></tool_call>``.

``glm45`` writes newlines between the parts, ``glm47`` does not; both are read by one grammar
that ignores whitespace between tags and keeps values verbatim (typed by the tool's schema).
"""

from __future__ import annotations

from typing import Any

from .base import Format
from .calls import CallSyntaxError, ParsedCall, ParseResult, inner, json_call, loads
from .rules import Rule
from .scanning import Delimited
from .tools import ToolBox, coerce_value

START, END = "<tool_call>", "</tool_call>"
KEY, KEY_END, VALUE, VALUE_END = "<arg_key>", "</arg_key>", "<arg_value>", "</arg_value>"


def _expect(body: str, pos: int, tag: str, name: str) -> int:
    while pos < len(body) and body[pos].isspace():
        pos += 1
    if not body.startswith(tag, pos):
        raise CallSyntaxError(f"{name}: expected {tag}, got {body[pos:pos + 20]!r}")
    return pos + len(tag)


def parse_glm(text: str, tools: ToolBox) -> ParseResult:
    """A function name followed by key/value pairs."""
    body = inner(text, START, END)
    if body.strip().startswith("{"):  # some GLM outputs fall back to a JSON call
        return [json_call(loads(body, "the tool call"))]
    first = body.find(KEY)
    name = (body if first == -1 else body[:first]).strip()
    if not name or any(c.isspace() or c in "<>{}" for c in name):
        raise CallSyntaxError(f"expected a function name, got {name[:40]!r}")
    arguments: dict[str, Any] = {}
    pos = len(body) if first == -1 else first
    while body[pos:].strip():
        pos = _expect(body, pos, KEY, name)
        key_end = body.find(KEY_END, pos)
        if key_end == -1:
            raise CallSyntaxError(f"{name}: {KEY} without {KEY_END}")
        key = body[pos:key_end].strip()
        pos = _expect(body, key_end + len(KEY_END), VALUE, name)
        value_end = body.find(VALUE_END, pos)
        if value_end == -1:
            raise CallSyntaxError(f"{name}: {VALUE} without {VALUE_END}")
        arguments[key] = coerce_value(body[pos:value_end], tools.parameter_schema(name, key))
        pos = value_end + len(VALUE_END)
    return [ParsedCall(name, arguments)]


def _glm(name: str) -> Format:
    return Format(name, [Rule(START, Delimited([END], ((VALUE, VALUE_END),), exclusive=[START]), parse_glm)])


GLM45 = _glm("glm45")
GLM47 = _glm("glm47")
