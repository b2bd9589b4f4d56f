"""The declared tools of one generation: name lookup, schema validation and value typing.

Validation uses ``jsonschema`` (imported on first use; validators are cached per schema) and
never fetches anything: only local ``#...`` references resolve (``schemas.py``).
Formats whose arguments are plain text (Qwen3-Coder XML, GLM, MiniMax, ...) type each value by
the parameter's schema with ``coerce_value``; without a schema a value stays a string.
"""

from __future__ import annotations

import ast
import json
import math
from collections.abc import Sequence
from typing import Any

from lmstream import ToolSpec, coerce_tools

from .calls import INVALID_ARGUMENTS, UNDECLARED_TOOL, jsonable, loads
from .schemas import check_shape, compile_schema


def _validator(schema_json: str) -> Any:
    """A compiled validator for a schema (local ``$ref`` only; see ``schemas.compile_schema``)."""
    return compile_schema(schema_json)


def _schema_key(schema: dict[str, Any]) -> str:
    check_shape(schema)
    return json.dumps(schema, sort_keys=True, default=str, allow_nan=False)


class ToolBox:
    """Declared tools by name; ``None`` accepts every name and checks nothing."""

    def __init__(self, tools: Sequence[ToolSpec | dict[str, Any]] | None) -> None:
        specs = coerce_tools(tools)
        self.declared = specs is not None
        self.tools: dict[str, ToolSpec] = {t.name: t for t in specs or ()}
        self.schemas: dict[str, dict[str, Any]] = {
            name: spec.json_schema() for name, spec in self.tools.items()}
        """Each tool's schema with type aliases (``"float"``, ``"dict"``) mapped to JSON types."""
        for index, spec in enumerate(specs or ()):
            try:
                _validator(_schema_key(self.schemas[spec.name]))
            except Exception as exc:  # jsonschema.SchemaError, or a schema json cannot hold
                raise ValueError(f"tools[{index}]: tool {spec.name!r} has an invalid parameters schema: "
                                 f"{getattr(exc, 'message', exc)}") from exc

    def parameter_schema(self, tool: str, parameter: str) -> dict[str, Any] | None:
        """The JSON schema of one parameter of a declared tool, or None when unknown."""
        schema = self.schemas.get(tool)
        if schema is None:
            return None
        properties = schema.get("properties")
        schema = properties.get(parameter) if isinstance(properties, dict) else None
        return schema if isinstance(schema, dict) else None

    def parameter_names(self, tool: str) -> set[str] | None:
        """The parameters a declared tool's schema names, or None when unknown (any name)."""
        schema = self.schemas.get(tool)
        properties = schema.get("properties") if schema is not None else None
        return set(properties) if isinstance(properties, dict) and properties else None

    def check(self, name: str, arguments: dict[str, Any]) -> tuple[str, str] | None:
        """(reason, detail) when the call cannot be accepted, else None."""
        if not self.declared:
            return None
        spec = self.tools.get(name)
        if spec is None:
            known = ", ".join(sorted(self.tools)) or "none"
            return UNDECLARED_TOOL, f"tool {name!r} was not declared (declared: {known})"
        validator = _validator(_schema_key(self.schemas[name]))
        try:
            errors = sorted(validator.iter_errors(arguments), key=lambda e: list(e.absolute_path))
        except RecursionError:  # arguments nested too deeply for the validator
            return INVALID_ARGUMENTS, f"arguments of {name!r} nest too deeply to validate"
        if not errors:
            return None
        import jsonschema

        best = jsonschema.exceptions.best_match(errors)
        where = "/".join(str(p) for p in best.absolute_path)
        return INVALID_ARGUMENTS, (f"arguments of {name!r} do not match its schema"
                                   f"{f' at {where}' if where else ''}: {best.message}")


def schema_types(schema: dict[str, Any] | None) -> set[str]:
    """The JSON types a schema allows (from type, enum, anyOf/oneOf/allOf); empty if unknown."""
    if not isinstance(schema, dict):
        return set()
    types: set[str] = set()
    declared = schema.get("type")
    if isinstance(declared, str):
        types.add(declared)
    elif isinstance(declared, list):
        types.update(t for t in declared if isinstance(t, str))
    for value in schema.get("enum", []) if isinstance(schema.get("enum"), list) else []:
        types.add(_json_type(value))
    if "const" in schema:
        types.add(_json_type(schema["const"]))
    for key in ("anyOf", "oneOf", "allOf"):
        for sub in schema.get(key, []) if isinstance(schema.get(key), list) else []:
            types |= schema_types(sub)
    return types


def _json_type(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int):
        return "integer"
    if isinstance(value, float):
        return "number"
    if isinstance(value, str):
        return "string"
    return "array" if isinstance(value, list) else "object"


def _container(text: str, kind: type) -> Any:
    """A JSON (or Python-literal) object or list, else None."""
    try:
        value = loads(text)  # JSON, raw control characters tolerated, numbers finite
    except ValueError:
        try:
            value = jsonable(ast.literal_eval(text))
        except (ValueError, SyntaxError, TypeError, MemoryError, RecursionError):
            return None
    return value if isinstance(value, kind) else None


def coerce_value(raw: str, schema: dict[str, Any] | None) -> Any:
    """Type a textual argument value by its parameter schema; a value that fits no declared type
    stays a string (so schema validation reports it). No schema: the string itself."""
    types = schema_types(schema)
    if not types or types == {"string"}:
        return raw
    text = raw.strip()
    lowered = text.lower()
    if "null" in types and lowered in ("null", "none"):
        return None
    if "integer" in types:
        try:
            return int(text)
        except ValueError:
            pass
    if "number" in types:
        try:
            number = float(text)
        except ValueError:
            number = None
        if number is not None and math.isfinite(number):
            return int(number) if number.is_integer() and "." not in text and "e" not in lowered \
                else number
    if "boolean" in types and lowered in ("true", "false"):
        return lowered == "true"
    if "object" in types and (value := _container(text, dict)) is not None:
        return value
    if "array" in types and (value := _container(text, list)) is not None:
        return value
    return raw
