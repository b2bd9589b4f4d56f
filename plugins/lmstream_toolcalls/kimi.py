"""Kimi K2: ``<|tool_calls_section_begin|><|tool_call_begin|>functions.name:0
<|tool_call_argument_begin|>{...}<|tool_call_end|>…<|tool_calls_section_end|>``.
The call id (``functions.name:0``) comes from the text. A bare counter id (``0``) names no tool:
the tool is the only declared one, or the only declared one whose parameters hold every argument
(as vLLM's kimi_k2 parser infers it); otherwise the call is malformed.
"""

from __future__ import annotations

import re
from typing import Any

from .base import Format
from .calls import CallSyntaxError, ParsedCall, ParseResult, arguments_dict, inner, loads
from .json_stream import HeaderStream
from .reasoning import KIMI_THINK, REASONING_BLOCKS
from .rules import Rule
from .scanning import BACKSLASH, JSON_QUOTES, Delimited
from .sections import BlockParser, SectionSplitter
from .tools import ToolBox

SECTION_BEGIN, SECTION_END = "<|tool_calls_section_begin|>", "<|tool_calls_section_end|>"
CALL_BEGIN, CALL_END = "<|tool_call_begin|>", "<|tool_call_end|>"
ARGS = "<|tool_call_argument_begin|>"

_SPLITTER = SectionSplitter(CALL_BEGIN, CALL_END, JSON_QUOTES, BACKSLASH)
_ID = re.compile(r"(?:functions\.)?(?P<name>[A-Za-z0-9_\-]+(?:[.\-][A-Za-z0-9_]+)*?):\d+\Z")
"""Kimi's id, parsed strictly: ``functions.NAME:INDEX`` (``functions.`` optional, an index
required), so ``functions.invalid.0`` is not a call named ``invalid.0``."""
_HEADER = re.compile(r"\s*(?:" + re.escape(CALL_END) + r"\s*)?" + re.escape(CALL_BEGIN)
                     + r"\s*(?P<id>[^<]*?)\s*" + re.escape(ARGS) + r"\s*")


def _name(m: re.Match[str]) -> str | None:
    """The name in a streamed header, by the same rule as the parser."""
    found = _ID.match(m.group("id"))
    return found.group("name") if found else None


def _stream(marker_end: int, tools: ToolBox) -> HeaderStream:
    return HeaderStream(marker_end, _HEADER, repeat=True, name_of=_name)


def _counter_tool(tools: ToolBox, arguments: dict[str, Any]) -> str:
    """The declared tool a bare counter id means (see the module docstring)."""
    if len(tools.tools) == 1:
        return next(iter(tools.tools))
    fits = [name for name in tools.tools
            if (names := tools.parameter_names(name)) is not None and set(arguments) <= names]
    if len(fits) != 1:
        raise CallSyntaxError(f"the call id names no tool and its arguments fit {len(fits)} "
                              "declared tools")
    return fits[0]


def _blocks(tools: ToolBox) -> BlockParser:
    """Parses one ``id<|tool_call_argument_begin|>{...}`` block."""
    def block(body: str, span: tuple[int, int]) -> ParsedCall:
        call_id, sep, args = body.partition(ARGS)
        call_id = call_id.strip()
        m = _ID.match(call_id)
        if sep and m is None and call_id.isdigit() and tools.tools:
            arguments = arguments_dict(loads(args, "the arguments"), call_id)
            return ParsedCall(_counter_tool(tools, arguments), arguments, call_id, span)
        if not sep or m is None:
            raise CallSyntaxError(f"expected functions.name:index{ARGS}{{arguments}}")
        name = m.group("name")
        arguments = arguments_dict(loads(args, f"the arguments of {name!r}"), name)
        return ParsedCall(name, arguments, call_id, span)

    return block


def parse_kimi(text: str, tools: ToolBox) -> ParseResult:
    """Call blocks between the section markers."""
    body = inner(text, SECTION_BEGIN, SECTION_END)
    return _SPLITTER.calls(text, len(SECTION_BEGIN), len(SECTION_BEGIN) + len(body),
                           _blocks(tools))


def parse_bare_kimi(text: str, tools: ToolBox) -> ParseResult:
    """One call block without the section markers around it."""
    return [_blocks(tools)(inner(text, CALL_BEGIN, CALL_END), (0, len(text)))]


def _bare_stream(marker_end: int, tools: ToolBox) -> HeaderStream:
    return HeaderStream(0, _HEADER, repeat=False, name_of=_name)


KIMI_K2 = Format("kimi_k2", [
    Rule(SECTION_BEGIN, Delimited([SECTION_END], JSON_QUOTES, BACKSLASH,
                                  exclusive=[SECTION_BEGIN]),
         parse_kimi, what=SECTION_BEGIN, complete_at_end=True, stream=_stream),
    # calls without the section markers (models do drop them)
    Rule(CALL_BEGIN, Delimited([CALL_END], JSON_QUOTES, BACKSLASH, exclusive=[CALL_BEGIN]),
         parse_bare_kimi, what=CALL_BEGIN, stream=_bare_stream),
], reasoning=(*REASONING_BLOCKS, KIMI_THINK))
