"""``generic``: the fallback format for models whose own tool-call syntax is unknown.

A call is a bare JSON object ``{"name": <tool>, "arguments": {...}}`` (``parameters`` is
accepted for ``arguments``); several calls are a JSON list of such objects. llama.cpp's
generic shapes ``{"tool_call": {...}}`` and ``{"tool_calls": [...]}`` are read too. The core
shows the model this format when its chat template cannot show tools (docs/tool-calls.md,
"The generic format") and, with a constraint engine, decodes under a lazy grammar that allows
plain text or the call(s).
"""

from __future__ import annotations

from .base import Format
from .calls import BadCall, CallSyntaxError, ParseResult, decode_at, json_call, json_calls
from .json_stream import json_call_stream
from .matching import WS, Pattern
from .rules import Rule
from .scanning import Balanced
from .tools import ToolBox


def parse_calls(text: str, tools: ToolBox) -> ParseResult:
    """One call object, or a JSON list of them."""
    return json_calls(text, 0)


def parse_wrapped(text: str, tools: ToolBox) -> ParseResult:
    """``{"tool_call": {...}}`` or ``{"tool_calls": [{...}, ...]}`` (llama.cpp's generic)."""
    value, _end = decode_at(text, 0, "the tool call")
    if not isinstance(value, dict):
        raise CallSyntaxError("expected a JSON object holding tool_call or tool_calls")
    if "tool_calls" in value:
        items = value["tool_calls"]
        if not isinstance(items, list) or not items:
            raise CallSyntaxError("tool_calls must be a non-empty list of call objects")
        result: ParseResult = []
        for item in items:
            try:
                result.append(json_call(item))
            except CallSyntaxError as exc:
                result.append(BadCall(str(exc)))
        return result
    return [json_call(value.get("tool_call"))]


_NAME = ('"name"', WS, ":")
GENERIC = Format("generic", [
    Rule(Pattern("{", WS, *_NAME), Balanced(first="{", opens="start"), parse_calls,
         stream=json_call_stream(opens_at_start=True)),
    Rule(Pattern("[", WS, "{", WS, *_NAME), Balanced(first="[", opens="start"), parse_calls,
         stream=json_call_stream(many=True, opens_at_start=True, separators="[,")),
    Rule(Pattern("{", WS, '"tool_call'), Balanced(first="{", opens="start"), parse_wrapped),
])
