"""Python-call tool calls: ``pythonic`` (``[f(a=1), g(b='x')]``, Llama 4's
``<|python_start|>…<|python_end|>``) and ``lfm2`` (``<|tool_call_start|>[f(a='x')]<|tool_call_end|>``).

Arguments are Python literals (JSON's ``true``/``false``/``null`` are accepted too; sets and
tuples become lists), read with ``ast`` and never executed; what models write that Python
refuses is rewritten first (``pyliterals``).
"""

from __future__ import annotations

import ast
import bisect
import re
from collections.abc import Iterator
from typing import Any

from .base import Format
from .calls import (
    BadCall,
    CallSyntaxError,
    ParsedCall,
    ParseResult,
    inner,
    json_call,
    jsonable,
    loads,
)
from .matching import IDENT, WS, Pattern
from .pyliterals import Prepared, has_invalid_escape, prepare
from .rules import Rule
from .scanning import BACKSLASH, PYTHON_QUOTES, Balanced, Delimited
from .tools import ToolBox

_JSON_NAMES = {"true": True, "false": False, "null": None}
_LINES = re.compile(r"[^\r\n]*(?:\r\n|\r|\n)?").findall
"""Lines with their ends, then one empty match at the end (no backtracking over a long line)."""


class _JsonLiterals(ast.NodeTransformer):
    """``true``/``false``/``null`` -> Python constants (templates render nested values as JSON);
    set literals -> lists in their written order (JSON has no sets; vLLM's parsers do the same)."""

    def visit_Name(self, node: ast.Name) -> ast.expr:
        if node.id in _JSON_NAMES:
            return ast.copy_location(ast.Constant(_JSON_NAMES[node.id]), node)
        return node

    def visit_Set(self, node: ast.Set) -> ast.expr:
        self.generic_visit(node)
        return ast.copy_location(ast.List(elts=node.elts, ctx=ast.Load()), node)


def literal(node: ast.expr, prepared: Prepared | None = None) -> Any:
    """The JSON-compatible value of a literal expression (tuples and sets become lists);
    CallSyntaxError for anything else. Nothing is ever evaluated. ``prepared``: the source was
    rewritten (``pyliterals``), so placeholders in strings are turned back."""
    try:
        value = jsonable(ast.literal_eval(_JsonLiterals().visit(node)))
        return prepared.values(value) if prepared is not None else value
    except (ValueError, TypeError, SyntaxError, MemoryError, RecursionError) as exc:
        raise CallSyntaxError(f"argument is not a JSON-like literal: {ast.unparse(node)[:60]!r}"
                              ) from exc


def _dotted(func: ast.expr) -> str | None:
    if isinstance(func, ast.Name):
        return func.id
    if isinstance(func, ast.Attribute):
        parent = _dotted(func.value)
        return f"{parent}.{func.attr}" if parent else None
    return None


class _Offsets:
    """Converts ast (line, UTF-8 byte column) positions into string offsets."""

    def __init__(self, source: str, base: int) -> None:
        self.lines = _LINES(source)
        if len(self.lines) > 1:
            self.lines.pop()  # the empty match at the end
        self.starts = [base]
        for line in self.lines:
            self.starts.append(self.starts[-1] + len(line))

    def __call__(self, lineno: int, col: int) -> int:
        line = self.lines[lineno - 1].encode("utf-8")[:col]
        return self.starts[lineno - 1] + len(line.decode("utf-8", errors="ignore"))

    def span(self, node: ast.expr) -> tuple[int, int]:
        end_line = node.end_lineno or node.lineno
        end_col = node.end_col_offset if node.end_col_offset is not None else node.col_offset
        return self(node.lineno, node.col_offset), self(end_line, end_col)


def _call(node: ast.expr, span: tuple[int, int], prepared: Prepared | None = None,
          ) -> ParsedCall | BadCall:
    if not isinstance(node, ast.Call):
        return BadCall(f"expected a function call, got {ast.unparse(node)[:40]!r}", span)
    name = _dotted(node.func)
    if name is None:
        return BadCall(f"cannot call {ast.unparse(node.func)[:40]!r}", span)
    if node.args:
        return BadCall(f"{name}(): positional arguments are not supported, use name=value", span)
    arguments: dict[str, Any] = {}
    for keyword in node.keywords:
        if keyword.arg is None:
            return BadCall(f"{name}(): **kwargs is not supported", span)
        try:
            arguments[keyword.arg] = literal(keyword.value, prepared)
        except CallSyntaxError as exc:
            return BadCall(f"{name}(): {exc}", span)
    return ParsedCall(name, arguments, span=span)


def repair_quotes(source: str) -> tuple[str, list[int]] | None:
    """Escape quotes inside string literals that cannot end them, as models write them
    (``q="say "hi" now"``): a quote ends its string only before ``,`` ``)`` ``]`` ``}`` ``:``
    or the end. Returns (the repaired source, offsets in it of the inserted backslashes), or
    None when there is nothing to repair. (``pyliterals.prepare`` does this and more.)"""
    prepared = prepare(source, repair=True)
    if prepared is None or not prepared.inserted:
        return None
    return prepared.source, prepared.inserted


def _readings(source: str) -> Iterator[Prepared | None]:
    """The ways to read ``source``, in order: as it is (None; skipped while it holds an escape
    Python warns about), as ``pyliterals.prepare`` rewrites it (raw characters in strings,
    leading zeros, invalid escapes), the same with stray quotes escaped, and as it is last
    when the escape was outside any string."""
    escapes = has_invalid_escape(source)
    if not escapes:
        yield None
    rewritten = False
    for repair in (False, True):
        prepared = prepare(source, repair)
        if prepared is not None:
            rewritten = True
            yield prepared
    if escapes and not rewritten:
        yield None


def _parse(source: str) -> tuple[ast.expr, Prepared | None]:
    """The expression in ``source``, read the first way that parses (``_readings``)."""
    message = "not a Python call list"
    for prepared in _readings(source):
        try:
            return ast.parse(source if prepared is None else prepared.source,
                             mode="eval").body, prepared
        except (SyntaxError, ValueError, MemoryError, RecursionError) as exc:
            if message == "not a Python call list":
                message = f"not a Python call list: {getattr(exc, 'msg', exc)}"
    raise CallSyntaxError(message)


def python_calls(text: str, start: int, end: int) -> ParseResult:
    """Calls in ``text[start:end]``: a list of calls, one call, or (LFM2) a JSON list of calls.

    Source that does not parse is read as models mean it (``_parse``, ``pyliterals``).
    """
    source = text[start:end]
    stripped = source.lstrip()
    base = start + len(source) - len(stripped)
    stripped = stripped.rstrip()
    tree, prepared = _parse(stripped)
    inserted = prepared.inserted if prepared is not None else []
    offsets = _Offsets(prepared.source if prepared is not None else stripped, base)
    nodes = tree.elts if isinstance(tree, ast.List) else [tree]
    if not nodes:
        raise CallSyntaxError("the call list is empty")
    items: ParseResult = []
    for node in nodes:
        span = offsets.span(node)
        if inserted:  # back to the model's text: drop the backslashes inserted before each end
            span = (span[0] - bisect.bisect_left(inserted, span[0] - base),
                    span[1] - bisect.bisect_left(inserted, span[1] - base))
        if isinstance(node, ast.Dict):  # LFM2 may answer in JSON: [{"name": ..., "arguments": ...}]
            try:  # as JSON first: its escapes (\/) differ from Python's
                obj = loads(text[span[0]:span[1]], "the call")
            except CallSyntaxError:
                obj = None
            try:
                items.append(json_call(obj if obj is not None else literal(node, prepared),
                                       span=span))
            except CallSyntaxError as exc:
                items.append(BadCall(str(exc), span))
        else:
            items.append(_call(node, span, prepared))
    return items


# -- pythonic ---------------------------------------------------------------------------------
PY_START, PY_END = "<|python_start|>", "<|python_end|>"


def parse_wrapped(text: str, tools: ToolBox) -> ParseResult:
    """Llama 4: calls between ``<|python_start|>`` and ``<|python_end|>``."""
    body = inner(text, PY_START, PY_END)
    return python_calls(text, len(PY_START), len(PY_START) + len(body))


def parse_bare(text: str, tools: ToolBox) -> ParseResult:
    """A bare call list ``[f(a=1), g()]``."""
    return python_calls(text, 0, len(text))


_PY_LIST = Balanced(first="[", brackets="{}[]()", quotes=PYTHON_QUOTES, escape=BACKSLASH,
                    opens="start")
PYTHONIC = Format("pythonic", [
    Rule(PY_START, Delimited([PY_END], PYTHON_QUOTES, BACKSLASH, exclusive=[PY_START]), parse_wrapped,
         complete_at_end=True),
    # A bare list only counts when it looks like a call: [name() or [name(key=
    Rule(Pattern("[", WS, IDENT, "(", WS, ")"), _PY_LIST, parse_bare, complete_at_end=True),
    Rule(Pattern("[", WS, IDENT, "(", WS, IDENT, WS, "="), _PY_LIST, parse_bare, complete_at_end=True),
])


# -- lfm2 -------------------------------------------------------------------------------------
LFM2_START, LFM2_END = "<|tool_call_start|>", "<|tool_call_end|>"


def parse_lfm2(text: str, tools: ToolBox) -> ParseResult:
    """Calls between ``<|tool_call_start|>`` and ``<|tool_call_end|>``."""
    body = inner(text, LFM2_START, LFM2_END)
    return python_calls(text, len(LFM2_START), len(LFM2_START) + len(body))


LFM2 = Format("lfm2", [
    Rule(LFM2_START, Delimited([LFM2_END], PYTHON_QUOTES, BACKSLASH, exclusive=[LFM2_START]), parse_lfm2,
         complete_at_end=True),
])
