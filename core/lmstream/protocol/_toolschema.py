"""Tool schemas as real clients send them: type names checked and mapped to JSON Schema's,
Cohere's ``parameter_definitions`` read as a schema, and tool names checked.

Clients write ``"float"``, ``"int"`` or ``"dict"`` where JSON Schema says ``number``,
``integer`` and ``object``; such a schema is kept as given for the chat template and validated
(and used to type values) through ``json_schema``, which maps each alias to its JSON type.
A type nothing maps (``"bogus"``) is an error at creation, naming where it is.
"""

from __future__ import annotations

import re
from typing import Any

from ._bounds import check_schema_bounds

JSON_TYPES = ("string", "integer", "number", "boolean", "object", "array", "null")
TYPE_ALIASES: dict[str, str] = {
    **{t: t for t in JSON_TYPES},
    "str": "string", "text": "string",
    "int": "integer", "long": "integer",
    "float": "number", "double": "number", "decimal": "number",
    "bool": "boolean",
    "dict": "object", "map": "object",
    "list": "array", "tuple": "array",
    "none": "null",
}
"""Type names clients use (lower-cased) and the JSON Schema type each one means."""

TOOL_NAME = re.compile(r"[A-Za-z0-9_.:\-]{1,64}")
"""Tool names every chat template can render: OpenAI's ``^[a-zA-Z0-9_-]{1,64}$`` plus ``.`` and
``:`` (namespaced MCP tools such as ``github.create_issue`` or ``fs:read``)."""

_SUBSCHEMA_MAPS = ("properties", "patternProperties", "$defs", "definitions", "dependentSchemas")
_SUBSCHEMA_LISTS = ("anyOf", "oneOf", "allOf", "prefixItems")
_SUBSCHEMAS = ("items", "additionalProperties", "not", "if", "then", "else", "contains",
               "propertyNames", "unevaluatedProperties", "unevaluatedItems", "additionalItems")


def check_tool_name(name: str) -> str:
    """``name`` when templates can render it, else ValueError saying what is allowed."""
    if TOOL_NAME.fullmatch(name) is None:
        shown = name if len(name) <= 40 else name[:37] + "..."
        raise ValueError(f"tool name {shown!r} ({len(name)} characters) is not usable: use 1 to 64 "
                         "letters, digits, '_', '-', '.' or ':'")
    return name


def _type_name(value: Any, where: str) -> str | None:
    if not isinstance(value, str):
        raise ValueError(f"{where} must be a type name or a list of them, got {value!r}")
    if value.lower() == "any":
        return None
    mapped = TYPE_ALIASES.get(value.lower())
    if mapped is None:
        raise ValueError(f"{where}: unknown type {value!r} (use one of {', '.join(JSON_TYPES)})")
    return mapped


def json_schema(schema: Any, where: str = "parameters") -> Any:
    """``schema`` with every type alias replaced by its JSON Schema type (a new object; the
    input is not changed). ValueError naming the place of a type that means nothing."""
    if not isinstance(schema, dict):
        return schema
    if where == "parameters":  # the top-level call: refuse an unbounded schema before walking it
        check_schema_bounds(schema, where, satisfiable=False)  # the tool parser judges refs
    out = dict(schema)
    if "type" in schema:
        declared = schema["type"]
        names = declared if isinstance(declared, list) else [declared]
        mapped = [_type_name(n, f"{where}.type") for n in names]
        if None in mapped:
            del out["type"]
        else:
            unique = list(dict.fromkeys(m for m in mapped if m is not None))
            out["type"] = unique if isinstance(declared, list) else unique[0]
    for key in _SUBSCHEMA_MAPS:
        if isinstance(schema.get(key), dict):
            out[key] = {k: json_schema(v, f"{where}.{key}.{k}") for k, v in schema[key].items()}
    for key in _SUBSCHEMA_LISTS:
        if isinstance(schema.get(key), list):
            out[key] = [json_schema(v, f"{where}.{key}[{i}]") for i, v in enumerate(schema[key])]
    for key in _SUBSCHEMAS:
        if isinstance(schema.get(key), dict):
            out[key] = json_schema(schema[key], f"{where}.{key}")
    if isinstance(schema.get("items"), list):
        out["items"] = [json_schema(v, f"{where}.items[{i}]") for i, v in enumerate(schema["items"])]
    return out


_COHERE_GENERIC = re.compile(r"(?i)^(list|dict|tuple)\s*\[")
_COHERE_OPTIONAL = re.compile(r"(?i)optional\s*\[(.*)\]")


def from_parameter_definitions(definitions: Any) -> dict[str, Any]:
    """A JSON schema from Cohere's ``{"x": {"description", "type": "str", "required": true}}``
    (Python type names such as ``List[str]`` map to their JSON type)."""
    if not isinstance(definitions, dict):
        raise ValueError("parameter_definitions must be an object of parameter definitions")
    properties: dict[str, Any] = {}
    required: list[str] = []
    for name, definition in definitions.items():
        if not isinstance(definition, dict):
            raise ValueError(f"parameter_definitions.{name} must be an object")
        prop: dict[str, Any] = {}
        declared = definition.get("type")
        if isinstance(declared, str):
            text = declared.strip()
            optional = _COHERE_OPTIONAL.fullmatch(text)
            text = optional.group(1).strip() if optional else text
            generic = _COHERE_GENERIC.match(text)
            base = generic.group(1) if generic else text
            mapped = _type_name(base, f"parameter_definitions.{name}.type")
            if mapped is not None:
                prop["type"] = mapped
        if isinstance(definition.get("description"), str):
            prop["description"] = definition["description"]
        properties[name] = prop
        if definition.get("required") is True:
            required.append(name)
    schema: dict[str, Any] = {"type": "object", "properties": properties}
    if required:
        schema["required"] = required
    return schema
