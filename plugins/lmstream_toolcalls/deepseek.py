"""DeepSeek's full-width-bar markers: ``deepseek_v3`` (``function<｜tool▁sep｜>name`` and fenced
JSON) and ``deepseek_v31`` (``name<｜tool▁sep｜>{json}``). V3.2's DSML is in xml_formats.
"""

from __future__ import annotations

import re
from collections.abc import Callable

from .base import Format
from .calls import CallSyntaxError, ParsedCall, ParseResult, arguments_dict, inner, loads
from .json_stream import HeaderStream
from .rules import Rule
from .scanning import BACKSLASH, JSON_QUOTES, Delimited
from .sections import BlockParser, SectionSplitter
from .tools import ToolBox

CALLS_BEGIN, CALLS_END = "<｜tool▁calls▁begin｜>", "<｜tool▁calls▁end｜>"
CALL_BEGIN, CALL_END = "<｜tool▁call▁begin｜>", "<｜tool▁call▁end｜>"
SEP = "<｜tool▁sep｜>"

_SPLITTER = SectionSplitter(CALL_BEGIN, CALL_END, JSON_QUOTES, BACKSLASH)
_V3_HEAD = re.compile(r"\s*(?P<type>\w+)\s*" + re.escape(SEP) +
                      r"\s*(?P<name>[^\n`]+?)\s*```(?:json)?\s*")
FENCE = "```"


def _v3_block(body: str, span: tuple[int, int]) -> ParsedCall:
    m = _V3_HEAD.match(body)
    fenced = body.rstrip()  # the arguments run to the last fence (no lazy regex: linear, fast)
    if m is None or not fenced.endswith(FENCE) or len(fenced) - len(FENCE) < m.end():
        raise CallSyntaxError(f"expected function{SEP}name and a ```json block")
    if m.group("type") != "function":
        raise CallSyntaxError(f"unsupported tool type {m.group('type')!r}")
    name = m.group("name")
    args = fenced[m.end():-len(FENCE)].rstrip()
    return ParsedCall(name, arguments_dict(loads(args, f"the arguments of {name!r}"), name),
                      span=span)


def _v31_block(body: str, span: tuple[int, int]) -> ParsedCall:
    name, sep, args = body.partition(SEP)
    name = name.strip()
    if not sep or not name:
        raise CallSyntaxError(f"expected name{SEP}{{arguments}}")
    return ParsedCall(name, arguments_dict(loads(args, f"the arguments of {name!r}"), name),
                      span=span)


_V31_HEADER = re.compile(r"\s*(?:" + re.escape(CALL_END) + r"\s*)?" + re.escape(CALL_BEGIN)
                         + r"(?P<name>[^<]*?)" + re.escape(SEP) + r"\s*")


def _v31_stream(marker_end: int, tools: ToolBox) -> HeaderStream:
    """Streams ``name<｜tool▁sep｜>{json}`` blocks (V3's fenced JSON is sent whole)."""
    return HeaderStream(marker_end, _V31_HEADER, repeat=True)


def _section(name: str, block: BlockParser,
             stream: Callable[[int, ToolBox], HeaderStream] | None = None) -> Format:
    def parse(text: str, tools: ToolBox) -> ParseResult:
        body = inner(text, CALLS_BEGIN, CALLS_END)
        return _SPLITTER.calls(text, len(CALLS_BEGIN), len(CALLS_BEGIN) + len(body), block)

    parse.__doc__ = "Call blocks between the tool-calls begin and end markers."
    end = Delimited([CALLS_END], JSON_QUOTES, BACKSLASH, exclusive=[CALLS_BEGIN])
    return Format(name, [Rule(CALLS_BEGIN, end, parse, what=CALLS_BEGIN, complete_at_end=True,
                              stream=stream)])


DEEPSEEK_V3 = _section("deepseek_v3", _v3_block)
DEEPSEEK_V31 = _section("deepseek_v31", _v31_block, _v31_stream)
