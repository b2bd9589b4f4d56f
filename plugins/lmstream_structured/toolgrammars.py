"""Lark grammars (llguidance dialect, ``%json{schema}`` for JSON values) that force a tool
call in a model's own tool-call format, so the format's parser reads it back.

A format name may carry ``+parallel``: one or more calls, written as the format writes several
(Hermes and ``qwen3_coder`` blocks one per line, ``llama3_json`` objects joined by ``; ``,
``mistral`` and ``pythonic`` lists of several); without it exactly one call (OpenAI's
``tool_choice: "required"`` with ``parallel_tool_calls`` true / false, and a named function).

Families: ``json`` (Hermes ``<tool_call>{...}</tool_call>``), ``llama3_json``
(``{"name": ..., "parameters": ...}``), ``mistral`` (``[TOOL_CALLS][{...}]``),
``qwen3_coder`` (``<function=f><parameter=k>v</parameter></function>``; string values are
one line without ``<``, other values JSON), ``pythonic``
(``[f(k=v)]``, values as JSON literals, which the pythonic parser accepts) and ``generic``
(a bare ``{"name": ..., "arguments": ...}``). The generic format takes modifiers:
``generic+parallel`` also allows a JSON list of several calls,
``generic+optional`` allows plain text instead, or before the call(s): text holds no ``{"``,
which starts a call (the lazy constraint of the fallback).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from typing import Any

from lmstream import ToolSpec

JSON_VALUE_OPTIONS = {"whitespace_flexible": False, "item_separator": ", ", "key_separator": ": ",
                      "lenient": True}
"""Layout of generated JSON; ``lenient``: keywords the engine cannot enforce (``propertyNames``,
``format: uri``, ...) are ignored rather than failing the whole tool grammar. Agents' tool
schemas (Claude Code's 24 tools) use them; a call is still checked against the full schema by
the tool-call parser afterwards."""


def _schema(schema: dict[str, Any]) -> dict[str, Any]:
    """A tool's parameter schema with the engine's JSON layout options."""
    return {**schema, "x-guidance": JSON_VALUE_OPTIONS}


def _json(schema: dict[str, Any]) -> str:
    """A Lark ``%json`` value for a schema."""
    return "%json " + json.dumps(_schema(schema))


class _Literals:
    """Writes marker text as a Lark string, or as ``<[id]>`` when it is one special token."""

    def __init__(self, encode: Callable[..., list[int]], is_special: Callable[[int], bool]) -> None:
        self.encode, self.is_special = encode, is_special

    def __call__(self, text: str) -> str:
        ids = self.encode(text, add_special_tokens=False)
        if len(ids) == 1 and self.is_special(ids[0]):
            return f"<[{ids[0]}]>"
        return json.dumps(text)


def closed(schema: dict[str, Any]) -> dict[str, Any]:
    """A tool's parameter schema without undeclared arguments unless it allows them itself
    (as OpenAI's strict mode): a model must not invent argument names. A name the schema
    requires without declaring it (``{"required": ["city"]}`` and no ``properties``: valid
    JSON Schema, any value) is declared with an empty schema, so closing keeps it possible."""
    if schema.get("type", "object") != "object" or "additionalProperties" in schema:
        return schema
    properties = schema.get("properties")
    properties = dict(properties) if isinstance(properties, dict) else {}
    required = schema.get("required")
    for name in required if isinstance(required, list) else ():
        if isinstance(name, str):
            properties.setdefault(name, {})
    return {**schema, "properties": properties, "additionalProperties": False}


def _call_object(tools: Sequence[ToolSpec], arguments_key: str) -> dict[str, Any]:
    """A schema accepting ``{"name": <one tool>, <arguments_key>: <its parameters>}``."""
    options = [{
        "type": "object",
        "properties": {"name": {"const": tool.name}, arguments_key: closed(tool.parameters)},
        "required": ["name", arguments_key],
        "additionalProperties": False,
    } for tool in tools]
    return options[0] if len(options) == 1 else {"anyOf": options}


NEWLINE = "\n"


def _repeated(rule: str, separator: str, parallel: bool) -> str:
    """``rule`` once, or (``parallel``) one or more times with the text ``separator`` between."""
    return f"{rule} ({json.dumps(separator)} {rule})*" if parallel else rule


def _hermes(tools: Sequence[ToolSpec], lit: _Literals, parallel: bool) -> str:
    """``json`` (Hermes): a JSON call object between the tool-call tags (one block a call)."""
    return (f'start: {_repeated("item", NEWLINE, parallel)}\n'
            f'item: {lit("<tool_call>")} "\\n" {_json(_call_object(tools, "arguments"))} '
            f'"\\n" {lit("</tool_call>")}\n')


def _llama3(tools: Sequence[ToolSpec], lit: _Literals, parallel: bool) -> str:
    """``llama3_json``: a bare JSON object with ``parameters`` (several joined by ``; ``)."""
    return (f'start: {_repeated("item", "; ", parallel)}\n'
            f"item: {_json(_call_object(tools, 'parameters'))}\n")


def _mistral(tools: Sequence[ToolSpec], lit: _Literals, parallel: bool) -> str:
    """``mistral``: the marker, then a JSON list of the call(s)."""
    schema: dict[str, Any] = {"type": "array", "items": _call_object(tools, "arguments"), "minItems": 1}
    if not parallel:
        schema["maxItems"] = 1
    return f'start: {lit("[TOOL_CALLS]")} {_json(schema)}\n'


def _ordered_parameters(tool: ToolSpec) -> list[tuple[str, dict[str, Any], bool]]:
    """(name, schema, required) of each declared parameter, in declaration order."""
    props: dict[str, Any] = tool.parameters.get("properties") or {}
    required = set(tool.parameters.get("required") or ())
    return [(key, schema if isinstance(schema, dict) else {}, key in required)
            for key, schema in props.items()]


def _alternatives(rules: list[str]) -> str:
    """Lark alternatives."""
    return " | ".join(rules)


def _pythonic(tools: Sequence[ToolSpec], lit: _Literals, parallel: bool) -> str:
    """``pythonic``: ``[name(k=v, ...)]`` (several: ``[f(...), g(...)]``), required parameters
    first, then optional ones."""
    lines = [f'start: "[" {_repeated("item", ", ", parallel)} "]"',
             f"item: {_alternatives([f'call_{i}' for i in range(len(tools))])}"]
    for i, tool in enumerate(tools):
        params = _ordered_parameters(tool)
        required = [(k, s) for k, s, req in params if req]
        optional = [(k, s) for k, s, req in params if not req]
        items = [f'"{key}=" {_json(schema)}' for key, schema in required]
        body = ' ", " '.join(items)
        if required:  # each optional parameter may follow, in order
            body += "".join(f' (", " "{key}=" {_json(schema)})?' for key, schema in optional)
        elif optional:  # no required one: a prefix of the optional ones, in order
            chain = ""
            for key, schema in reversed(optional):
                chain = f'"{key}=" {_json(schema)}' + (f' (", " {chain})?' if chain else "")
            body = f"({chain})?"
        lines.append(f'call_{i}: {json.dumps(tool.name + "(")} {body} ")"')
    return "\n".join(lines) + "\n"


def _qwen3_coder(tools: Sequence[ToolSpec], lit: _Literals, parallel: bool) -> str:
    """``qwen3_coder``: XML-style function and parameter tags (one block a call)."""
    alts = _alternatives([f"call_{i}" for i in range(len(tools))])
    lines = [f'start: {_repeated("item", NEWLINE, parallel)}',
             f'item: {lit("<tool_call>")} "\\n" ({alts}) "\\n" {lit("</tool_call>")}']
    for i, tool in enumerate(tools):
        items = []
        for key, schema, required in _ordered_parameters(tool):
            if schema.get("type") == "string" and "enum" not in schema:
                value = "TEXT"
            else:
                value = _json(schema)
            item = f'"<parameter={key}>\\n" {value} "\\n</parameter>\\n"'
            items.append(f"({item})" if required else f"({item})?")
        lines.append(f'call_{i}: "<function={tool.name}>\\n" {" ".join(items)} "</function>"')
    lines.append("TEXT: /[^<\\n]+/")  # one line: a newline ends the value (no backtracking)
    return "\n".join(lines) + "\n"


GENERIC_TEXT = ('text: (TEXT | BRACE)+\nTEXT: /[^{]+/\nBRACE: /\\{+[^{"]/')
"""Plain text in the lazy generic grammar: any text without ``{"`` (which starts a call); a
brace is its own lexeme so that the call's ``{`` can take over where a quote follows."""


def generic_grammar(tools: Sequence[ToolSpec], *, optional: bool, parallel: bool) -> str:
    """``generic``: one call object; ``parallel``: or a JSON list of several; ``optional``: or
    plain text, which a call may follow (the lazy form). Nothing follows a call."""
    call = _call_object(tools, "arguments")
    lines = [f"one: {_json(call)}"]
    calls = ["one"]
    if parallel:
        lines.append(f"many: {_json({'type': 'array', 'items': call, 'minItems': 1})}")
        calls.append("many")
    alternatives = [f"({' | '.join(calls)})"]
    if optional:
        alternatives = ["text", f"text {alternatives[0]}", alternatives[0]]
        lines.append(GENERIC_TEXT)
    return "\n".join([f"start: {' | '.join(alternatives)}", *lines]) + "\n"


def answer_or_call(call_grammar: str, schema: dict[str, Any]) -> str:
    """A grammar whose output is either a JSON value of ``schema`` (the answer) or what
    ``call_grammar`` allows (the call(s)): its ``start`` rule becomes ``call``."""
    lines = call_grammar.splitlines()
    starts = [i for i, line in enumerate(lines) if line.startswith("start:")]
    if len(starts) != 1:
        raise ValueError("a tool-call grammar needs exactly one start rule")
    lines[starts[0]] = "call:" + lines[starts[0]][len("start:"):]
    answer = f"answer: %json {json.dumps({**schema, 'x-guidance': JSON_VALUE_OPTIONS})}"
    return "\n".join(["start: answer | call", answer, *lines]) + "\n"


BUILDERS: dict[str, Callable[[Sequence[ToolSpec], _Literals, bool], str]] = {
    "json": _hermes,
    "llama3_json": _llama3,
    "mistral": _mistral,
    "pythonic": _pythonic,
    "qwen3_coder": _qwen3_coder,
}


def tool_call_grammar(tool_format: str, tools: Sequence[ToolSpec], encode: Callable[..., list[int]],
                      is_special: Callable[[int], bool]) -> str:
    """The Lark grammar of one call to one of ``tools`` in ``tool_format`` (``+parallel``: one
    or more calls; the generic format also takes ``+optional``)."""
    base, *modifiers = tool_format.split("+")
    if base == "generic" and set(modifiers) <= {"optional", "parallel"}:
        if not tools:
            raise ValueError("a tool call needs at least one tool")
        return generic_grammar(tools, optional="optional" in modifiers,
                               parallel="parallel" in modifiers)
    builder = BUILDERS.get(base)
    if builder is None or not set(modifiers) <= {"parallel"}:
        raise ValueError(f"tool_choice cannot be enforced for tool-call format {base!r}: "
                         f"no grammar for it (grammars exist for {', '.join(sorted([*BUILDERS, 'generic']))})")
    if not tools:
        raise ValueError("a required tool call needs at least one tool")
    return builder(tools, _Literals(encode, is_special), "parallel" in modifiers)
