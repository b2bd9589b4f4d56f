"""Compiling untrusted tool schemas into validators that never leave the process.

Tool schemas come from whoever sends the tools (an HTTP client, once lmstream is served), so a
schema is data to check, not a list of URLs to visit. jsonschema would fetch a remote ``$ref``
while validating a call; here every validator gets a ``referencing`` registry whose retrieve
function refuses, and ``compile_schema`` rejects at creation what could only fail later:

- a reference that is not local (``$ref``/``$dynamicRef`` must start with ``#``),
- a local reference that does not resolve (missing pointer or anchor),
- a cycle of references that never consumes the instance (``{"$ref": "#"}``, or one through
  ``allOf``/``anyOf``/...), which would recurse without end on every validation,
- an embedded ``$id`` below the root (it would move the base URI elsewhere),
- a schema nested deeper than ``MAX_SCHEMA_DEPTH`` or larger than ``MAX_SCHEMA_BYTES``.
"""

from __future__ import annotations

import functools
import json
from typing import Any, NoReturn

MAX_SCHEMA_DEPTH = 64
"""How deeply dicts and lists may nest in one tool's parameters schema."""

MAX_SCHEMA_BYTES = 1_000_000
"""The largest parameters schema (as compact JSON) a tool may declare."""

_REF_KEYS = ("$ref", "$dynamicRef", "$recursiveRef")
_IN_PLACE_LISTS = ("allOf", "anyOf", "oneOf")
_IN_PLACE_SCHEMAS = ("not", "if", "then", "else")
_ROOT_URI = "urn:lmstream:tool-schema"


class SchemaRefError(ValueError):
    """A tool schema's references cannot be resolved locally (or loop without end)."""


def refuse_retrieve(uri: str) -> NoReturn:
    """The registry's retrieve function: nothing outside the schema itself is ever fetched."""
    from referencing.exceptions import NoSuchResource

    raise NoSuchResource(ref=uri)  # type: ignore[call-arg]


def check_shape(schema: Any) -> None:
    """Refuse schemas nested deeper than MAX_SCHEMA_DEPTH (walked without recursion)."""
    stack: list[tuple[Any, int]] = [(schema, 1)]
    while stack:
        node, depth = stack.pop()
        if depth > MAX_SCHEMA_DEPTH:
            raise SchemaRefError(f"schema nests deeper than {MAX_SCHEMA_DEPTH} levels")
        children = node.values() if isinstance(node, dict) else node if isinstance(node, list) \
            else ()
        stack.extend((child, depth + 1) for child in children)


def _walk_refs(schema: Any) -> list[tuple[str, str]]:
    """Every (keyword, reference) in the schema; refuses non-local refs and nested ``$id``."""
    found: list[tuple[str, str]] = []
    stack: list[tuple[Any, bool]] = [(schema, True)]
    while stack:
        node, is_root = stack.pop()
        if isinstance(node, dict):
            for key in _REF_KEYS:
                ref = node.get(key)
                if isinstance(ref, str):
                    if not ref.startswith("#"):
                        raise SchemaRefError(
                            f"{key} {ref!r} is not a local reference: only '#...' references "
                            "into the same schema are allowed (nothing is ever fetched)")
                    found.append((key, ref))
            ident = node.get("$id")
            if not is_root and isinstance(ident, str) and not ident.startswith("#"):
                raise SchemaRefError(f"embedded $id {ident!r} is not allowed below the root")
            stack.extend((child, False) for child in node.values())
        elif isinstance(node, list):
            stack.extend((child, False) for child in node)
    return found


def _in_place(node: dict[str, Any]) -> list[Any]:
    """Subschemas applied to the same instance as ``node`` (so a cycle through them never ends)."""
    subs: list[Any] = []
    for key in _IN_PLACE_LISTS:
        value = node.get(key)
        if isinstance(value, list):
            subs.extend(value)
    subs.extend(node[key] for key in _IN_PLACE_SCHEMAS if key in node)
    dependent = node.get("dependentSchemas")
    if isinstance(dependent, dict):
        subs.extend(dependent.values())
    return [sub for sub in subs if isinstance(sub, dict)]


def _check_cycles(schema: Any, resolver: Any) -> None:
    """Refuse a loop of in-place applicators and references (DFS over object identities)."""
    def targets(node: dict[str, Any]) -> list[Any]:
        out = _in_place(node)
        for key in _REF_KEYS:
            ref = node.get(key)
            if isinstance(ref, str):
                contents = resolver.lookup(ref).contents
                if isinstance(contents, dict):
                    out.append(contents)
        return out

    done: set[int] = set()
    for start in _all_dicts(schema):
        if id(start) in done:
            continue
        path: set[int] = {id(start)}
        stack: list[tuple[dict[str, Any], list[Any]]] = [(start, targets(start))]
        while stack:
            node, pending = stack[-1]
            if not pending:
                stack.pop()
                path.discard(id(node))
                done.add(id(node))
                continue
            nxt = pending.pop()
            if id(nxt) in path:
                raise SchemaRefError("references loop without validating anything "
                                     "(a $ref cycle through the same instance)")
            if id(nxt) not in done:
                path.add(id(nxt))
                stack.append((nxt, targets(nxt)))


def _all_dicts(schema: Any) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    stack = [schema]
    while stack:
        node = stack.pop()
        if isinstance(node, dict):
            out.append(node)
            stack.extend(node.values())
        elif isinstance(node, list):
            stack.extend(node)
    return out


@functools.lru_cache(maxsize=512)
def compile_schema(schema_json: str) -> Any:
    """A validator for a schema given as JSON text, resolving only local references.

    Raises ``jsonschema.SchemaError`` for an invalid schema and ``SchemaRefError`` for the
    reference problems listed in the module docstring; nothing is ever fetched.
    """
    import jsonschema
    from referencing import Registry, Resource
    from referencing.exceptions import Unresolvable
    from referencing.jsonschema import DRAFT202012

    if len(schema_json) > MAX_SCHEMA_BYTES:
        raise SchemaRefError(f"schema is larger than {MAX_SCHEMA_BYTES} bytes")
    schema = json.loads(schema_json)
    check_shape(schema)
    refs = _walk_refs(schema)
    cls = jsonschema.validators.validator_for(schema, default=jsonschema.Draft202012Validator)
    cls.check_schema(schema)
    if not isinstance(schema, dict):  # a boolean schema has no references
        return cls(schema)
    resource = Resource.from_contents(schema, default_specification=DRAFT202012)
    ident = schema.get("$id")
    root: str = ident if isinstance(ident, str) else _ROOT_URI
    registry: Registry[Any] = Registry(retrieve=refuse_retrieve)  # type: ignore[call-arg]
    registry = registry.with_resource(root, resource)
    registry = registry.with_resource(_ROOT_URI, resource)
    resolver = registry.resolver(base_uri=root)
    for key, ref in refs:
        try:
            resolver.lookup(ref)
        except Unresolvable as exc:
            raise SchemaRefError(f"{key} {ref!r} does not resolve inside the schema "
                                 f"({type(exc).__name__})") from None
    _check_cycles(schema, resolver)
    return cls(schema, registry=registry)


def schema_key(schema: Any) -> str:
    """The cache key of a schema: its canonical JSON (raises on values JSON cannot hold)."""
    return json.dumps(schema, sort_keys=True, allow_nan=False)
