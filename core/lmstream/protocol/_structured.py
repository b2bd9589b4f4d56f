"""Structured-output specs: ``response_format`` / ``tool_choice`` checked, turned into one
``ConstraintSpec`` for a constraint engine, and the finished text parsed back into an object.

Shape errors raise when ``GenerationParameters`` is built (pydantic names the field); what
only an engine can judge (a regex dialect, a grammar, a schema it cannot compile) raises when
the stream is created.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

from pydantic import BaseModel, TypeAdapter

from ._bounds import check_grammar_bounds, check_pattern_bounds, check_schema_bounds
from ._inputs import ToolSpec

FORMAT_TYPES = ("text", "json_object", "json_schema", "regex", "grammar")
TOOL_CHOICES = ("auto", "none", "required")
ConstraintKind = Literal["json_schema", "regex", "grammar", "tool_call"]


@dataclass(frozen=True)
class ConstraintSpec:
    """What one generation must produce, in engine-neutral terms."""

    kind: ConstraintKind
    schema: dict[str, Any] | None = None
    """``json_schema``: the JSON schema (``json_object``: ``{"type": "object"}``); with
    ``tool_call``: the output is either a JSON value of this schema or one call."""
    pattern: str | None = None
    """``regex``: the pattern the whole output must match."""
    lark: str | None = None
    """``grammar``: a Lark grammar (start rule ``start``)."""
    tools: tuple[ToolSpec, ...] = field(default_factory=tuple)
    """``tool_call``: the tools a call may name (one, for a named ``tool_choice``)."""
    tool_format: str | None = None
    """``tool_call``: the model's tool-call format (the tool-parser name: json, pythonic, ...)."""


def _is_schema_type(value: Any) -> bool:
    return isinstance(value, type) and (issubclass(value, BaseModel) or dataclasses.is_dataclass(value))


def _closed(schema: Any) -> Any:
    """Objects with properties and no ``additionalProperties`` get ``false`` (strict, as
    OpenAI's strict mode): the model writes exactly the class's fields."""
    if isinstance(schema, list):
        return [_closed(item) for item in schema]
    if not isinstance(schema, dict):
        return schema
    closed = {key: _closed(item) for key, item in schema.items()}
    if closed.get("type") == "object" and "properties" in closed and "additionalProperties" not in closed:
        closed["additionalProperties"] = False
    return closed


def schema_of(value: Any) -> dict[str, Any]:
    """The strict JSON schema of a pydantic model class or a dataclass."""
    if isinstance(value, type) and issubclass(value, BaseModel):
        schema = value.model_json_schema()
    else:
        schema = TypeAdapter(value).json_schema()
    result: dict[str, Any] = _closed(schema)
    return result


def _check_json_schema(schema: Any, where: str) -> None:
    """Bounds first (size, depth, widths, $ref depth, satisfiability), then the metaschema."""
    if not isinstance(schema, dict):
        raise ValueError(f"{where} must be a JSON schema object, not {type(schema).__name__}")
    check_schema_bounds(schema, where)
    import jsonschema

    try:
        jsonschema.validators.validator_for(schema).check_schema(schema)
    except RecursionError:  # a shape the bounds let through but the metaschema check cannot walk
        raise ValueError(f"{where} is too deeply nested to check") from None
    except jsonschema.SchemaError as exc:
        path = "/".join(str(p) for p in exc.absolute_path) or "(root)"
        raise ValueError(f"{where} is not a valid JSON schema at {path}: {exc.message}") from None


def normalize_response_format(value: Any) -> Any:
    """Check a ``response_format``; a pydantic model / dataclass stays a class (for parsing)."""
    if value is None or _is_schema_type(value):
        if value is not None:
            schema_of(value)  # a class pydantic cannot describe fails here
        return value
    if not isinstance(value, dict):
        raise ValueError("response_format must be a dict ({'type': ...}), a pydantic model class "
                         f"or a dataclass, not {type(value).__name__}")
    kind = value.get("type")
    if kind not in FORMAT_TYPES:
        raise ValueError(f"response_format.type must be one of {', '.join(FORMAT_TYPES)}; got {kind!r}")
    extra = set(value) - {"type", {"json_schema": "json_schema", "regex": "pattern",
                                   "grammar": "lark"}.get(kind, "type")}
    if extra:
        raise ValueError(f"response_format of type {kind!r} has unknown keys: {sorted(extra)}")
    if kind == "json_schema":
        inner = value.get("json_schema")
        if _is_schema_type(inner):
            return inner
        if not isinstance(inner, dict) or "schema" not in inner:
            raise ValueError("response_format.json_schema must be {'name': ..., 'schema': {...}, 'strict': ...}")
        unknown = set(inner) - {"name", "schema", "strict", "description"}
        if unknown:
            raise ValueError(f"response_format.json_schema has unknown keys: {sorted(unknown)}")
        _check_json_schema(inner["schema"], "response_format.json_schema.schema")
    elif kind == "regex":
        if not isinstance(value.get("pattern"), str) or not value["pattern"]:
            raise ValueError("response_format.pattern must be a non-empty regex string")
        check_pattern_bounds(value["pattern"], "response_format.pattern")
    elif kind == "grammar":
        if not isinstance(value.get("lark"), str) or not value["lark"].strip():
            raise ValueError("response_format.lark must be a non-empty Lark grammar string")
        check_grammar_bounds(value["lark"], "response_format.lark")
    return dict(value)


def response_format_dict(value: Any) -> Any:
    """The JSON form of a response_format (a class becomes its ``json_schema`` dict)."""
    if _is_schema_type(value):
        return {"type": "json_schema",
                "json_schema": {"name": value.__name__, "schema": schema_of(value), "strict": True}}
    return value


def normalize_tool_choice(value: Any) -> Any:
    """Check a ``tool_choice``: auto / none / required, or a named function (OpenAI shape)."""
    if value is None or value in TOOL_CHOICES:
        return value
    if isinstance(value, str):
        raise ValueError(f"tool_choice must be one of {', '.join(TOOL_CHOICES)} or "
                         f"{{'type': 'function', 'function': {{'name': ...}}}}; got {value!r}")
    if isinstance(value, dict) and value.get("type") == "function":
        function = value.get("function", value)
        name = function.get("name") if isinstance(function, dict) else None
        if isinstance(name, str) and name:
            return {"type": "function", "function": {"name": name}}
    raise ValueError("tool_choice must be 'auto', 'none', 'required' or "
                     "{'type': 'function', 'function': {'name': ...}}")


def constraint_spec(response_format: Any, tool_choice: Any, tools: Sequence[ToolSpec] | None,
                    tool_format: str | None) -> ConstraintSpec | None:
    """The constraint a generation needs, or None (no response_format, tool_choice auto/none)."""
    forced = tool_choice == "required" or isinstance(tool_choice, dict)
    fmt = response_format_dict(response_format)
    wants_format = fmt is not None and fmt.get("type") != "text"
    if forced:
        if wants_format:
            raise ValueError("response_format and a required tool_choice cannot be combined")
        if not tools:
            raise ValueError(f"tool_choice={tool_choice!r} needs tools")
        chosen = list(enumerate(tools))
        if isinstance(tool_choice, dict):
            name = tool_choice["function"]["name"]
            chosen = [(i, t) for i, t in chosen if t.name == name]
            if not chosen:
                known = ", ".join(t.name for t in tools)
                raise ValueError(f"tool_choice names {name!r}, which is not among the tools ({known})")
        if tool_format is None:
            raise ValueError(f"tool_choice={tool_choice!r} needs a tool-call format: pass "
                             "GenerationParameters(tool_parser=...) or load(..., tool_parser=...)")
        for index, tool in chosen:  # a call the grammar forces must be writable
            check_schema_bounds(tool.parameters, f"tools[{index}] ({tool.name!r}).parameters")
        return ConstraintSpec("tool_call", tools=tuple(t for _, t in chosen), tool_format=tool_format)
    if not wants_format:
        return None
    kind = fmt["type"]
    if kind == "json_object":
        return ConstraintSpec("json_schema", schema={"type": "object"})
    if kind == "json_schema":
        return ConstraintSpec("json_schema", schema=fmt["json_schema"]["schema"])
    if kind == "regex":
        return ConstraintSpec("regex", pattern=fmt["pattern"])
    return ConstraintSpec("grammar", lark=fmt["lark"])


def parse_response(response_format: Any, text: str) -> Any:
    """The finished content as an object: a model / dataclass instance, or the loaded JSON.

    None for text, regex and grammar formats (their output is the text itself). Raises
    ValueError when JSON output does not parse or validate (never a silent None).
    """
    if response_format is None:
        return None
    if _is_schema_type(response_format):
        try:
            if issubclass(response_format, BaseModel):
                return response_format.model_validate_json(text)
            return TypeAdapter(response_format).validate_json(text)
        except Exception as exc:
            raise ValueError(f"the output does not validate as {response_format.__name__}: {exc}") from exc
    if response_format.get("type") in ("json_object", "json_schema"):
        try:
            return json.loads(text)
        except json.JSONDecodeError as exc:
            raise ValueError(f"the output is not JSON: {exc}") from exc
    return None
