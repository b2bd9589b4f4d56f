"""JSON tool calls: Hermes/Qwen ``json``, ``llama3_json``, ``granite`` and ``phi4_mini``."""

from __future__ import annotations

import re

from .base import Format
from .calls import (
    BadCall,
    CallSyntaxError,
    ParsedCall,
    ParseResult,
    arguments_dict,
    decode_at,
    inner,
    json_call,
    json_calls,
    loads,
)
from .json_stream import json_call_stream
from .matching import IDENT, WS, Pattern
from .rules import Rule
from .scanning import BACKSLASH, JSON_QUOTES, Balanced, Delimited
from .tools import ToolBox

# -- json (Hermes, Qwen2.5, Qwen3): <tool_call>{"name": ..., "arguments": ...}</tool_call> -------
HERMES_START, HERMES_END = "<tool_call>", "</tool_call>"


def parse_hermes(text: str, tools: ToolBox) -> ParseResult:
    """One JSON object between ``<tool_call>`` and ``</tool_call>``."""
    return [json_call(loads(inner(text, HERMES_START, HERMES_END), "the tool call"))]


# What Hermes-style models also write, as llama.cpp's Hermes 2 Pro parser reads it
# (ggml-org/llama.cpp common/chat.cpp, common_chat_parse_hermes_2_pro): the JSON call inside
# another tag, and <function=name>{...}</function> / <function name="name">{...}</function>.
# A tag only counts when a JSON call follows it, written name first: {"name": "f", ...}; one
# without "arguments" is malformed. (llama.cpp also reads a ```json fence; that would put every
# backtick of plain text on the slow path, so it is left to the generic format.)
_OTHER_TAGS = ("function_call", "tools", "tool", "response", "json")
_FUNCTION = re.compile(r"""<function(?:=|\s+name=")(?P<name>[^">]+)"?>(?P<args>.*)</function>\s*\Z""",
                       re.DOTALL)


def _call_after(opening: str) -> Pattern:
    """``opening``, then ``{"name": "<identifier>",``."""
    return Pattern(opening, WS, "{", WS, '"name"', WS, ":", WS, '"', IDENT, '"', WS, ",")


def _wrapped_call(body: str) -> ParseResult:
    """The call in a tag or fence: it must carry ``arguments`` (or ``parameters``)."""
    obj = loads(body, "the tool call")
    if not isinstance(obj, dict) or not ("arguments" in obj or "parameters" in obj):
        raise CallSyntaxError("a JSON object with a name but no arguments is not a call")
    return [json_call(obj)]


def _tagged(tag: str) -> Rule:
    start, end = f"<{tag}>", f"</{tag}>"

    def parse(text: str, tools: ToolBox) -> ParseResult:
        return _wrapped_call(inner(text, start, end))

    return Rule(_call_after(start), Delimited([end], JSON_QUOTES, BACKSLASH, exclusive=[start]),
                parse, what=start, complete_at_end=True)


def parse_function_tag(text: str, tools: ToolBox) -> ParseResult:
    """``<function=name>{...}</function>`` or ``<function name="name">{...}</function>``."""
    m = _FUNCTION.match(text if text.rstrip().endswith("</function>") else text + "</function>")
    if m is None:
        raise CallSyntaxError("expected <function=name>{arguments}</function>")
    name = m.group("name").strip()
    return [ParsedCall(name, arguments_dict(loads(m.group("args"), f"the arguments of {name!r}"),
                                            name))]


_FUNCTION_END = Delimited(["</function>"], JSON_QUOTES, BACKSLASH, exclusive=["<function"])
HERMES = Format("json", [
    Rule(HERMES_START, Delimited([HERMES_END], JSON_QUOTES, BACKSLASH, exclusive=[HERMES_START]),
         parse_hermes, complete_at_end=True, stream=json_call_stream()),
    *(_tagged(tag) for tag in _OTHER_TAGS),
    Rule(Pattern("<function=", IDENT, ">", WS, "{"), _FUNCTION_END, parse_function_tag,
         what="<function=", complete_at_end=True),
    Rule(Pattern('<function name="', IDENT, '">', WS, "{"), _FUNCTION_END, parse_function_tag,
         what="<function", complete_at_end=True),
])


# -- llama3_json: [<|python_tag|>]{"name": ..., "parameters": {...}}; {...} ---------------------
PYTHON_TAG = "<|python_tag|>"


def parse_llama3(text: str, tools: ToolBox) -> ParseResult:
    """JSON objects separated by ``;`` after an optional ``<|python_tag|>``."""
    pos = len(PYTHON_TAG) if text.startswith(PYTHON_TAG) else 0
    rest = text[pos:].lstrip()
    if not rest.startswith("{"):
        raise CallSyntaxError(f"expected a JSON object after {PYTHON_TAG}, got {rest[:20]!r}")
    items: ParseResult = []
    while True:
        while text[pos:pos + 1].isspace():
            pos += 1
        start = pos
        value, pos = decode_at(text, pos, "the tool call")
        try:
            items.append(json_call(value, ("parameters", "arguments"), span=(start, pos)))
        except CallSyntaxError as exc:
            items.append(BadCall(str(exc), (start, pos)))
        while text[pos:pos + 1].isspace():
            pos += 1
        if text[pos:pos + 1] != ";":
            break
        pos += 1
    if text[pos:].strip():
        raise CallSyntaxError(f"unexpected text after the calls: {text[pos:pos + 20]!r}")
    return items


_LLAMA_BODY = Balanced(first="{", separator=";")
_LLAMA_BARE = Balanced(first="{", separator=";", opens="start")
_LLAMA_KEYS = ("parameters", "arguments")
_LLAMA_STREAM = json_call_stream(many=True, arg_keys=_LLAMA_KEYS, separators=";")
_LLAMA_BARE_STREAM = json_call_stream(many=True, arg_keys=_LLAMA_KEYS, separators=";",
                                      opens_at_start=True)
LLAMA3_JSON = Format("llama3_json", [
    Rule(PYTHON_TAG, _LLAMA_BODY, parse_llama3, stream=_LLAMA_STREAM),
    Rule(Pattern("{", WS, '"name"', WS, ":"), _LLAMA_BARE, parse_llama3, stream=_LLAMA_BARE_STREAM),
    Rule(Pattern("{", WS, '"type"', WS, ":", WS, '"function"'), _LLAMA_BARE, parse_llama3,
         stream=_LLAMA_BARE_STREAM),
])


# -- granite: <|tool_call|>[{"name": ..., "arguments": {...}}, ...] ----------------------------
GRANITE_START = "<|tool_call|>"


GRANITE_TEXT_START = "<tool_call>"
"""Granite 3.1 sometimes writes the marker as text: ``<tool_call>[{...}]``."""


def parse_granite(text: str, tools: ToolBox) -> ParseResult:
    """A JSON list of calls (or one call object) after ``<|tool_call|>`` or ``<tool_call>``."""
    start = GRANITE_START if text.startswith(GRANITE_START) else GRANITE_TEXT_START
    return json_calls(text, len(start))


_GRANITE_STREAM = json_call_stream(many=True, separators="[,")
GRANITE = Format("granite", [
    Rule(GRANITE_START, Balanced(first="[{"), parse_granite, stream=_GRANITE_STREAM),
    Rule(GRANITE_TEXT_START, Balanced(first="[{"), parse_granite, stream=_GRANITE_STREAM),
])


# -- phi4_mini: functools[{"name": ..., "arguments": {...}}, ...] -----------------------------
def parse_phi4(text: str, tools: ToolBox) -> ParseResult:
    """A JSON list of calls after ``functools``."""
    return json_calls(text, text.index("["))


PHI4_MINI = Format("phi4_mini", [
    Rule("functools[", Balanced(first="[", opens="last"), parse_phi4,
         stream=json_call_stream(many=True, separators=",")),
])
