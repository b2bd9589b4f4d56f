"""JSON schemas made ready for the engine: numbers that cannot run away, and tool schemas whose
local ``$ref`` s still resolve once embedded in a larger grammar.

Numbers: a weak model asked for an ``integer`` may write ``1111…`` until ``max_tokens``. An
``integer`` or ``number`` without a bound on a side gets I-JSON's interoperable bound there
(RFC 7493: ±(2^53−1), so at most 16 digits), and a ``number`` without ``multipleOf`` gets at
most ``fraction_digits`` digits after the point; a schema that bounds it keeps its own bounds.

Refs: a tool's parameters may say ``{"$ref": "#/$defs/s"}``; embedded in the call object
(``{"name": ..., "arguments": <parameters>}``) or split per parameter, ``#`` would mean the
wrong document. Giving the parameters (and each parameter holding a ref, with a copy of the
definitions) its own ``$id`` makes ``#`` mean the tool's schema wherever it is embedded.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any
from urllib.parse import quote

MAPS = ("properties", "patternProperties", "$defs", "definitions", "dependentSchemas")
LISTS = ("anyOf", "oneOf", "allOf", "prefixItems")
SINGLES = ("items", "additionalProperties", "not", "if", "then", "else", "contains", "propertyNames",
           "unevaluatedProperties", "unevaluatedItems", "additionalItems")


def _types(schema: Mapping[str, Any]) -> set[str]:
    declared = schema.get("type")
    if isinstance(declared, str):
        return {declared}
    return {t for t in declared if isinstance(t, str)} if isinstance(declared, list) else set()


def _numbers(*values: Any) -> list[float]:
    """The values that are JSON numbers (not booleans)."""
    return [v for v in values if isinstance(v, (int, float)) and not isinstance(v, bool)]


def _bound_one(schema: dict[str, Any], integer_bound: int, fraction_digits: int) -> dict[str, Any]:
    """``schema`` (one level) with the missing number bounds added."""
    types = _types(schema)
    if not types & {"integer", "number"} or "enum" in schema or "const" in schema:
        return schema
    out = dict(schema)
    low = _numbers(schema.get("minimum"), schema.get("exclusiveMinimum"))
    high = _numbers(schema.get("maximum"), schema.get("exclusiveMaximum"))
    if not low and all(v >= -integer_bound for v in high):
        out["minimum"] = -integer_bound
    if not high and all(v <= integer_bound for v in low):
        out["maximum"] = integer_bound
    if "number" in types and "multipleOf" not in schema:
        out["multipleOf"] = float(f"1e-{fraction_digits}")
    return out


def bounded_numbers(schema: Any, integer_bound: int, fraction_digits: int) -> Any:
    """A copy of ``schema`` whose unbounded integers and numbers are bounded (module doc)."""
    if not isinstance(schema, Mapping):
        return schema
    out = _bound_one(dict(schema), integer_bound, fraction_digits)
    for key in MAPS:
        if isinstance(out.get(key), Mapping):
            out[key] = {k: bounded_numbers(v, integer_bound, fraction_digits) for k, v in out[key].items()}
    for key in (*LISTS, "items"):
        if isinstance(out.get(key), list):
            out[key] = [bounded_numbers(v, integer_bound, fraction_digits) for v in out[key]]
    for key in SINGLES:
        if isinstance(out.get(key), Mapping):
            out[key] = bounded_numbers(out[key], integer_bound, fraction_digits)
    return out


def has_local_ref(value: Any) -> bool:
    """Whether a ``$ref`` starting with ``#`` occurs anywhere in ``value`` (walked iteratively)."""
    stack = [value]
    while stack:
        node = stack.pop()
        if isinstance(node, Mapping):
            ref = node.get("$ref")
            if isinstance(ref, str) and ref.startswith("#"):
                return True
            stack.extend(node.values())
        elif isinstance(node, list):
            stack.extend(node)
    return False


def _inlined(schema: Any, definitions: Mapping[str, Any]) -> Any:
    """A property schema that is a ref to a definition without refs of its own, replaced by
    that definition (so a format that treats strings specially sees ``"type": "string"``)."""
    if not isinstance(schema, Mapping) or not isinstance(schema.get("$ref"), str):
        return schema
    for key in ("$defs", "definitions"):
        prefix = f"#/{key}/"
        name = schema["$ref"][len(prefix):] if schema["$ref"].startswith(prefix) else None
        target = definitions.get(key, {}).get(name) if name and "/" not in name else None
        if isinstance(target, Mapping) and not has_local_ref(target):
            return {**target, **{k: v for k, v in schema.items() if k != "$ref"}}
    return schema


def self_contained(parameters: dict[str, Any], base: str) -> dict[str, Any]:
    """A tool's parameters whose local refs resolve wherever the schema, or one of its
    properties, is embedded (see the module doc); unchanged when there is no local ref."""
    if "$id" in parameters or not has_local_ref(parameters):
        return parameters
    out: dict[str, Any] = {**parameters, "$id": base}
    definitions = {key: parameters[key] for key in ("$defs", "definitions")
                   if isinstance(parameters.get(key), Mapping)}
    properties = parameters.get("properties")
    if isinstance(properties, Mapping):
        inlined = {name: _inlined(schema, definitions) for name, schema in properties.items()}
        out["properties"] = {
            name: ({**definitions, **schema, "$id": f"{base}/properties/{quote(str(name), safe='')}"}
                   if isinstance(schema, Mapping) and "$id" not in schema and has_local_ref(schema) else schema)
            for name, schema in inlined.items()}
    return out
