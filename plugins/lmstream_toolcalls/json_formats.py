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
# another tag or a ```json fence, and <function=name>{...}</function> /
# <function name="name">{...}</function>. A tag or fence only counts when a JSON call follows
# it, written name first: {"name": "f", "arguments": ...} (so a fenced {"name": "John", ...}
# stays content).
_OTHER_TAGS = ("function_call", "tools", "tool", "response", "json", "JSON", "xml")
_FUNCTION = re.compile(r"""<function(?:=|\s+name=")(?P<name>[^">]+)"?>(?P<args>.*)</function>\s*\Z""",
                       re.DOTALL)


def _call_after(opening: str, key: str) -> Pattern:
    """``opening``, then ``{"name": "<identifier>", "<key>"``."""
    return Pattern(opening, WS, "{", WS, '"name"', WS, ":", WS, '"', IDENT, '"', WS, ",", WS,
                   f'"{key}"')


def _tagged(tag: str) -> list[Rule]:
    start, end = f"<{tag}>", f"</{tag}>"

    def parse(text: str, tools: ToolBox) -> ParseResult:
        return [json_call(loads(inner(text, start, end), "the tool call"))]

    end_spec = Delimited([end], JSON_QUOTES, BACKSLASH, exclusive=[start])
    return [Rule(_call_after(start, key), end_spec, parse, what=start, complete_at_end=True)
            for key in ("arguments", "parameters")]


def parse_fenced(text: str, tools: ToolBox) -> ParseResult:
    """A JSON call in a Markdown code fence (```json ... ```)."""
    body = text.removeprefix("```").removesuffix("```")
    body = body[4:] if body.startswith("json") else body[3:] if body.startswith("xml") else body
    return [json_call(loads(body, "the tool call"))]


def parse_function_tag(text: str, tools: ToolBox) -> ParseResult:
    """``<function=name>{...}</function>`` or ``<function name="name">{...}</function>``."""
    m = _FUNCTION.match(text if text.rstrip().endswith("</function>") else text + "</function>")
    if m is None:
        raise CallSyntaxError("expected <function=name>{arguments}</function>")
    name = m.group("name").strip()
    return [ParsedCall(name, arguments_dict(loads(m.group("args"), f"the arguments of {name!r}"),
                                            name))]


_FENCE = Delimited(["```"], JSON_QUOTES, BACKSLASH)
_FUNCTION_END = Delimited(["</function>"], JSON_QUOTES, BACKSLASH, exclusive=["<function"])
HERMES = Format("json", [
    Rule(HERMES_START, Delimited([HERMES_END], JSON_QUOTES, BACKSLASH, exclusive=[HERMES_START]),
         parse_hermes, complete_at_end=True, stream=json_call_stream()),
    *(rule for tag in _OTHER_TAGS for rule in _tagged(tag)),
    *(Rule(_call_after(fence, key), _FENCE, parse_fenced, what="```", complete_at_end=True)
      for fence in ("```json", "```xml", "```") for key in ("arguments", "parameters")),
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
