"""Bounds on untrusted structured-output specs, checked before any engine or ``jsonschema``
sees them: a JSON schema, a regex or a Lark grammar larger, deeper or wider than
``StructuredLimits`` allows is refused with a ValueError naming the limit and the field.

Constraint engines compile schemas and grammars recursively (llguidance 1.9 overflowed its
stack on a 2,000-``$ref`` chain or a 3,000-rule Lark chain); these bounds keep every spec that
reaches an engine small enough to compile in bounded time and stack. The JSON-schema walk is
iterative (no Python recursion) and stops at the first limit exceeded.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from ._limits import StructuredLimits
from ._schemagraph import SchemaGraph, regex_depth

DEFAULT_LIMITS = StructuredLimits()
_current: list[StructuredLimits] = [DEFAULT_LIMITS]


def structured_limits() -> StructuredLimits:
    """The limits in force (process-wide; ``DEFAULT_LIMITS`` unless changed)."""
    return _current[0]


def set_structured_limits(limits: StructuredLimits) -> StructuredLimits:
    """Make ``limits`` the process-wide limits (a server sets them from its options once);
    returns the previous ones."""
    if not isinstance(limits, StructuredLimits):
        raise TypeError(f"limits must be StructuredLimits, not {type(limits).__name__}")
    previous, _current[0] = _current[0], limits
    return previous


def _exceeds(where: str, what: str, limit: str, value: int) -> ValueError:
    return ValueError(f"{where} {what} (limit StructuredLimits.{limit} = {value})")


def check_document(value: Any, where: str, limits: StructuredLimits) -> None:
    """Refuse a JSON document nested deeper than ``max_depth`` or larger than ``max_bytes``
    (its JSON text, counted approximately); walked without recursion, stopping early."""
    size = 0
    stack: list[tuple[Any, int]] = [(value, 1)]
    while stack:
        node, depth = stack.pop()
        if depth > limits.max_depth:
            raise _exceeds(where, f"nests deeper than {limits.max_depth} levels", "max_depth",
                           limits.max_depth)
        if isinstance(node, Mapping):
            size += 2 + 4 * len(node)
            for key, child in node.items():
                size += len(key) if isinstance(key, str) else 8
                stack.append((child, depth + 1))
        elif isinstance(node, (list, tuple)):
            size += 2 + 2 * len(node)
            stack.extend((child, depth + 1) for child in node)
        elif isinstance(node, str):
            size += len(node) + 2
        else:
            size += 8
        if size > limits.max_bytes:
            raise _exceeds(where, f"is larger than {limits.max_bytes} bytes", "max_bytes", limits.max_bytes)


def check_schema_bounds(schema: Any, where: str, limits: StructuredLimits | None = None, *,
                        satisfiable: bool = True) -> None:
    """Refuse an untrusted JSON schema that exceeds ``limits`` (default: those in force) or,
    with ``satisfiable``, that no finite JSON value can satisfy (``{"$ref": "#"}``, a required
    property whose schema is only itself): ValueError naming the limit and ``where``."""
    limits = limits or structured_limits()
    check_document(schema, where, limits)
    graph = SchemaGraph(schema, where, limits)
    longest = graph.longest_path()
    if longest > limits.max_ref_depth:
        raise _exceeds(where, f"nests {longest} subschemas deep through nesting and $ref", "max_ref_depth",
                       limits.max_ref_depth)
    if satisfiable and not graph.satisfiable():
        raise ValueError(f"{where} cannot be satisfied by any finite JSON value (it requires "
                         "itself through $ref with no way out)")


def check_pattern_bounds(text: str, where: str, limits: StructuredLimits | None = None) -> None:
    """Refuse a regex larger than ``max_bytes`` or with groups nested deeper than ``max_depth``."""
    limits = limits or structured_limits()
    _check_size(text, where, limits)
    depth = regex_depth(text, 0, len(text))
    if depth > limits.max_depth:
        raise _exceeds(where, f"nests groups {depth} deep", "max_depth", limits.max_depth)


def _check_size(text: str, where: str, limits: StructuredLimits) -> None:
    if len(text) > limits.max_bytes or len(text.encode("utf-8", "surrogatepass")) > limits.max_bytes:
        raise _exceeds(where, f"is larger than {limits.max_bytes} bytes", "max_bytes", limits.max_bytes)


def check_grammar_bounds(lark: str, where: str, limits: StructuredLimits | None = None) -> None:
    """Refuse a Lark grammar larger than ``max_bytes``, with more than ``max_grammar_rules``
    definitions, groups (or its regexes' groups) nested deeper than ``max_depth``, or an inline
    ``%json`` schema that ``check_schema_bounds`` refuses."""
    limits = limits or structured_limits()
    _check_size(lark, where, limits)
    scan = _LarkScan(lark)
    if scan.rules > limits.max_grammar_rules:
        raise _exceeds(where, f"defines {scan.rules} rules", "max_grammar_rules", limits.max_grammar_rules)
    if scan.deepest > limits.max_depth:
        raise _exceeds(where, f"nests groups {scan.deepest} deep", "max_depth", limits.max_depth)
    for line, schema in scan.json_schemas:
        check_schema_bounds(schema, f"{where} (%json at line {line})", limits)


class _LarkScan:
    """One pass over a Lark grammar: rule definitions, group depth, inline ``%json`` schemas."""

    def __init__(self, text: str) -> None:
        self.rules = 0
        self.deepest = 0
        self.json_schemas: list[tuple[int, Any]] = []
        self._text = text
        self._scan()

    def _scan(self) -> None:
        text, n = self._text, len(self._text)
        depth, i, line, line_start = 0, 0, 1, True
        while i < n:
            char = text[i]
            if char == "\n":
                line, line_start, i = line + 1, True, i + 1
                continue
            if char in " \t\r":
                i += 1
                continue
            if line_start:
                line_start = False
                if self._defines_rule(i):
                    self.rules += 1
                    depth = 0  # a new definition: whatever the last one left open is its error
            if char == "#" or text.startswith("//", i):
                i = self._line_end(i)
            elif char == '"':
                i = self._string_end(i)
            elif char == "/":
                end = self._regex_end(i)
                self.deepest = max(self.deepest, depth + regex_depth(text, i + 1, end))
                i = end + 1
            elif text.startswith("%json", i):
                end = self._inline_json(i + 5, line)
                line += text.count("\n", i, end)
                i = end
            elif char in "([{":
                depth += 1
                self.deepest = max(self.deepest, depth)
                i += 1
            elif char in ")]}":
                depth = max(0, depth - 1)
                i += 1
            else:
                i += 1

    def _defines_rule(self, i: int) -> bool:
        """Whether the line at ``i`` starts a definition (``name:``, ``?name:``, ``NAME.2:``)."""
        text = self._text
        j = i + (1 if text[i:i + 1] in ("?", "!") else 0)
        start = j
        while j < len(text) and (text[j].isalnum() or text[j] in "_-."):
            j += 1
        if j == start:
            return False
        while j < len(text) and text[j] in " \t":
            j += 1
        if text.startswith("[", j):  # rule attributes: name[stop=...]:
            close = text.find("]", j)
            j = close + 1 if close > 0 else j
            while j < len(text) and text[j] in " \t":
                j += 1
        return text.startswith(":", j)

    def _line_end(self, i: int) -> int:
        end = self._text.find("\n", i)
        return len(self._text) if end < 0 else end

    def _string_end(self, i: int) -> int:
        text, j = self._text, i + 1
        while j < len(text) and text[j] not in '"\n':
            j += 2 if text[j] == "\\" else 1
        return j + 1

    def _regex_end(self, i: int) -> int:
        """Index of the ``/`` closing the regex opened at ``i`` (or the line's end)."""
        text, j = self._text, i + 1
        in_class = False
        while j < len(text) and text[j] != "\n":
            char = text[j]
            if char == "\\":
                j += 2
                continue
            if in_class:
                in_class = char != "]"
            elif char == "[":
                in_class = True
            elif char == "/":
                return j
            j += 1
        return j

    def _inline_json(self, i: int, line: int) -> int:
        """Read the JSON object after ``%json``; returns the index after it."""
        text = self._text
        while i < len(text) and text[i] in " \t\r\n":
            i += 1
        if not text.startswith("{", i):
            return i
        try:
            value, end = json.JSONDecoder().raw_decode(text, i)
        except RecursionError:
            raise ValueError(f"the %json schema at line {line} nests too deeply") from None
        except ValueError:
            return i + 1  # not JSON: the engine reports it
        self.json_schemas.append((line, value))
        return int(end)
