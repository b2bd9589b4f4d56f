"""XML-style tool calls whose values are plain text typed by the tool's schema:
``qwen3_coder``, ``seed_oss``, ``minimax_m2`` and ``deepseek_v32`` (DSML).

Parameter values are skipped while looking for the end marker, so code containing
``</tool_call>`` inside a value does not end the call.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from .base import Format
from .calls import BadCall, CallSyntaxError, ParsedCall, ParseResult, inner, loads
from .matching import IDENT, WS, Pattern
from .rules import Rule
from .scanning import Delimited, DelimitedFinder
from .tools import ToolBox, coerce_value
from .xml_stream import XmlCallStream, end_pattern, value_end


@dataclass(frozen=True)
class XmlGrammar:
    """How one family writes a function and its parameters."""

    function: re.Pattern[str]
    """Opens a function; group ``name``."""
    function_end: str
    parameter: re.Pattern[str]
    """Opens a parameter; group ``key`` (and optionally ``string``: "true"/"false")."""
    parameter_end: str
    trim_newlines: bool = True
    """Drop one newline right after the opening tag and one before the closing tag."""


def _value(raw: str, grammar: XmlGrammar, string_flag: str | None, schema: dict[str, Any] | None,
           key: str) -> Any:
    if grammar.trim_newlines:
        raw = raw[1:] if raw.startswith("\n") else raw
        raw = raw[:-1] if raw.endswith("\n") else raw
    if string_flag == "true":
        return raw
    if string_flag == "false":
        return loads(raw, f"parameter {key!r}")
    return coerce_value(raw, schema)


def _read_function(body: str, pos: int, grammar: XmlGrammar, tools: ToolBox,
                   ) -> tuple[ParsedCall, int]:
    """Read one function whose opening tag starts at ``pos``; returns the call and its end."""
    m = grammar.function.match(body, pos)
    assert m is not None
    name = m.group("name").strip()
    if not name:
        raise CallSyntaxError("a function tag needs a name")
    arguments: dict[str, Any] = {}
    ends = _ENDS.get(grammar) or _ENDS.setdefault(grammar, end_pattern(grammar))
    names = tools.parameter_names(name)
    pos = m.end()
    while True:
        while pos < len(body) and body[pos].isspace():
            pos += 1
        if body.startswith(grammar.function_end, pos):
            pos += len(grammar.function_end)
            break
        if pos >= len(body):  # a missing closing tag at the very end is tolerated
            break
        p = grammar.parameter.match(body, pos)
        if p is None:
            raise CallSyntaxError(f"{name}: unexpected text {body[pos:pos + 30]!r}")
        key = p.group("key").strip()
        value_start = p.end()
        _status, close, pos = value_end(body, value_start, grammar, ends,
                                        lambda k: names is None or k in names, True)
        flag = p.groupdict().get("string")
        arguments[key] = _value(body[value_start:close], grammar, flag,
                                tools.parameter_schema(name, key), key)
    return ParsedCall(name, arguments), pos


_ENDS: dict[XmlGrammar, re.Pattern[str]] = {}


def xml_calls(text: str, start: int, stop: int, grammar: XmlGrammar, tools: ToolBox) -> ParseResult:
    """Every function in ``text[start:stop]``, with spans in ``text``'s coordinates."""
    body = text[:stop]
    items: ParseResult = []
    pos, found = start, False
    while True:
        m = grammar.function.search(body, pos)
        stray = body[pos:m.start() if m else stop]
        if stray.strip():
            offset = pos + len(stray) - len(stray.lstrip())
            items.append(BadCall(f"unexpected text outside a function: {stray.strip()[:40]!r}",
                                 (offset, offset + len(stray.strip()))))
        if m is None:
            break
        found = True
        try:
            call, end = _read_function(body, m.start(), grammar, tools)
            items.append(ParsedCall(call.name, call.arguments, span=(m.start(), end)))
        except CallSyntaxError as exc:
            end = body.find(grammar.function_end, m.end())
            end = stop if end == -1 else end + len(grammar.function_end)
            items.append(BadCall(str(exc), (m.start(), end)))
        pos = end
    if not found:
        raise CallSyntaxError("no function found in the tool call")
    return items


class _FromRegionStart:
    """Scans a region from its first character (the start pattern may end inside a value)."""

    def __init__(self, inner: Delimited) -> None:
        self.inner = inner

    def new(self, marker_end: int) -> DelimitedFinder:
        """A finder that reads the whole region, start marker included."""
        return self.inner.new(0)


def _wrapped(start: str, end: str, grammar: XmlGrammar, value_open: str, name: str,
             what: str, bare: str | None = None) -> Format:
    """A format whose functions sit inside ``start … end``; ``bare``: the literal start of a
    function tag that also opens a call without the wrapper (models drop ``<tool_call>``)."""
    def parse(text: str, tools: ToolBox) -> ParseResult:
        body = inner(text, start, end)
        if not text.endswith(end) and not body.rstrip().endswith(grammar.function_end):
            # unclosed (the stream ended, or the next call began): only whole functions count
            raise CallSyntaxError(f"{start} ended inside a function")
        return xml_calls(text, len(start), len(start) + len(body), grammar, tools)

    parse.__doc__ = f"Functions between {start} and {end}."
    def stream(marker_end: int, tools: ToolBox) -> XmlCallStream:
        return XmlCallStream(marker_end, grammar, tools, _value, (end,))

    def parse_bare(text: str, tools: ToolBox) -> ParseResult:
        return xml_calls(text, 0, len(text), grammar, tools)

    def stream_bare(marker_end: int, tools: ToolBox) -> XmlCallStream:
        return XmlCallStream(0, grammar, tools, _value)

    quotes = ((value_open, grammar.parameter_end),)
    rules = [Rule(start, Delimited([end], quotes, exclusive=[start]), parse, what=what,
                  complete_at_end=True, stream=stream)]
    if bare is not None:  # only a function tag followed by a parameter or its end counts
        body = _FromRegionStart(Delimited([grammar.function_end], quotes))
        for follow in (value_open, grammar.function_end):
            rules.append(Rule(Pattern(bare, IDENT, ">", WS, follow), body, parse_bare,
                              what=bare, stream=stream_bare))
    return Format(name, rules)


# Qwen3-Coder / Seed-OSS: <function=name><parameter=key>value</parameter></function>
QWEN_GRAMMAR = XmlGrammar(
    function=re.compile(r"<function=(?P<name>[^>\n]*)>"),
    function_end="</function>",
    parameter=re.compile(r"<parameter=(?P<key>[^>\n]*)>"),
    parameter_end="</parameter>",
)
QWEN3_CODER = _wrapped("<tool_call>", "</tool_call>", QWEN_GRAMMAR, "<parameter=", "qwen3_coder",
                       "<tool_call>", bare="<function=")
SEED_OSS = _wrapped("<seed:tool_call>", "</seed:tool_call>", QWEN_GRAMMAR, "<parameter=",
                    "seed_oss", "<seed:tool_call>")

# MiniMax-M2: <invoke name="f"><parameter name="k">v</parameter></invoke>
MINIMAX_GRAMMAR = XmlGrammar(
    function=re.compile(r"""<invoke\s+name\s*=\s*["']?(?P<name>[^"'>]*)["']?\s*>"""),
    function_end="</invoke>",
    parameter=re.compile(r"""<parameter\s+name\s*=\s*["']?(?P<key>[^"'>]*)["']?\s*>"""),
    parameter_end="</parameter>",
)
MINIMAX_M2 = _wrapped("<minimax:tool_call>", "</minimax:tool_call>", MINIMAX_GRAMMAR,
                      "<parameter", "minimax_m2", "<minimax:tool_call>")

# DeepSeek-V3.2 DSML: <｜DSML｜invoke name="f"><｜DSML｜parameter name="k" string="true">v</...>
DSML = "｜DSML｜"
DSML_GRAMMAR = XmlGrammar(
    function=re.compile(rf'<{DSML}invoke\s+name="(?P<name>[^"]*)"\s*>'),
    function_end=f"</{DSML}invoke>",
    parameter=re.compile(rf'<{DSML}parameter\s+name="(?P<key>[^"]*)"'
                         rf'(?:\s+string="(?P<string>true|false)")?\s*>'),
    parameter_end=f"</{DSML}parameter>",
    trim_newlines=False,
)
DEEPSEEK_V32 = _wrapped(f"<{DSML}function_calls>", f"</{DSML}function_calls>", DSML_GRAMMAR,
                        f"<{DSML}parameter", "deepseek_v32", f"<{DSML}function_calls>")
