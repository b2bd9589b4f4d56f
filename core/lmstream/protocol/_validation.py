"""Checks of untrusted call arguments, run before any work starts, with errors naming the field.

The generation APIs, the input models and ``load`` call these so that a bad argument is a
``TypeError``/``ValueError`` naming it at creation, instead of an unrelated exception from deep
inside a tokenizer, a backend or the worker thread. What a pydantic field can declare (types,
ranges, finiteness) is declared on the models themselves (``GenerationParameters``, the input
models, ``LoadOptions``); this module holds what walks values no field type describes (lone
surrogates anywhere in nested text, token-id iterators, tool-call shapes, nesting depth). Stdlib
only (no lmstream imports at module level), so every module may use it without an import cycle.
"""

from __future__ import annotations

import operator
from collections.abc import Iterable, Iterator, Mapping
from typing import Any

MAX_TOKEN_ID = 2**31 - 1
"""The largest token id any input may hold (vocabularies are far smaller)."""
MAX_SEED = 2**64 - 1
"""The largest sampling seed (seeds are unsigned 64-bit)."""
_WALK_LIMIT = 10_000
"""How many nested values ``find_surrogate`` looks at before giving up (bounded work)."""


def has_surrogate(text: str) -> bool:
    """Whether ``text`` holds a lone surrogate (which no tokenizer can encode)."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return True
    return False


def find_surrogate(value: Any, where: str) -> str | None:
    """The path (``where[0].content``) of the first string in ``value`` with a lone surrogate."""
    stack: list[tuple[Any, str]] = [(value, where)]
    seen = 0
    while stack and seen < _WALK_LIMIT:
        node, path = stack.pop()
        seen += 1
        if isinstance(node, str):
            if has_surrogate(node):
                return path
        elif isinstance(node, Mapping):
            for key, child in node.items():
                if isinstance(key, str) and has_surrogate(key):
                    return f"{path}.<key>"
                stack.append((child, f"{path}.{key}"))
        elif isinstance(node, (list, tuple)):
            stack.extend((child, f"{path}[{index}]") for index, child in enumerate(node))
    return None


def check_text(value: Any, field: str) -> None:
    """Refuse strings (anywhere inside ``value``) that hold lone surrogates."""
    path = find_surrogate(value, field)
    if path is not None:
        raise ValueError(f"{path} holds a lone surrogate (not valid Unicode text)")


def check_flag(value: Any, field: str) -> None:
    """``value`` must be a real bool (``'no'`` is truthy and would silently mean yes)."""
    if not isinstance(value, bool):
        raise TypeError(f"{field} must be True or False, not {value!r}")


def check_count(value: Any, field: str) -> None:
    """``value`` must be a non-negative int that is not a bool."""
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(f"{field} must be a non-negative int, not {value!r}")
    if value < 0:
        raise ValueError(f"{field} must be a non-negative int, got {value}")


def check_token_id(value: Any, field: str) -> None:
    """A token id: an integer (not a bool; numpy integers pass) from 0 to MAX_TOKEN_ID."""
    if isinstance(value, bool):
        raise TypeError(f"{field} is {value!r}, not a token id (an int)")
    try:
        value = operator.index(value)
    except TypeError:
        raise TypeError(f"{field} is {value!r}, not a token id (an int)") from None
    if not 0 <= value <= MAX_TOKEN_ID:
        raise ValueError(f"{field} holds {value}, not a token id (0 to {MAX_TOKEN_ID})")


def check_token_ids(values: Iterable[Any], field: str) -> None:
    """Every item of ``values`` is a token id."""
    for index, value in enumerate(values):
        check_token_id(value, f"{field}[{index}]")


def checked_token_ids(iterator: Iterable[Any]) -> Iterator[int]:
    """Pass through a user iterator's token ids, refusing anything else (``1.7``, ``True``)."""
    for index, value in enumerate(iterator):
        check_token_id(value, f"iterator item {index}")
        yield value


def check_input(value: Any, field: str = "input") -> None:
    """A generation input's text may not hold lone surrogates (models and inputs check the rest)."""
    if isinstance(value, str):
        check_text(value, field)


def check_generation_call(context: Any, input: Any, include_stop_token: Any = False) -> None:
    """The checks every generation API runs on its arguments before doing any work (the caller
    checks ``context`` is a ModelContext first: this module imports nothing of lmstream)."""
    check_input(input)
    check_flag(include_stop_token, "include_stop_token")


def check_backend_name(backend: Any) -> None:
    """``load(backend=...)``: None (the default) or a non-empty name."""
    if backend is not None and (not isinstance(backend, str) or not backend.strip()):
        raise ValueError(f"backend must be a backend name (or None for the default), "
                         f"got {backend!r}")


def check_path(path: Any, field: str = "path") -> None:
    """A file path argument: a non-empty str or os.PathLike."""
    import os

    if not isinstance(path, (str, os.PathLike)):
        raise TypeError(f"{field} must be a file path, not {type(path).__name__}")
    if not os.fspath(path):
        raise ValueError(f"{field} must not be empty")


def check_tool_calls(calls: Any) -> None:
    """An assistant message's ``tool_calls``: OpenAI shape (``{"type": "function", "function":
    {"name", "arguments"}}``) or flat (``{"name", "arguments"}``); a name is required and the
    arguments are a JSON string or an object."""
    for index, call in enumerate(calls or ()):
        where = f"tool_calls[{index}]"
        if not isinstance(call, Mapping):
            raise ValueError(f"{where} must be an object, not {type(call).__name__}")
        if call.get("type", "function") != "function":
            raise ValueError(f"{where}.type must be 'function', got {call.get('type')!r}")
        function = call.get("function", call)
        if not isinstance(function, Mapping):
            raise ValueError(f"{where}.function must be an object with name and arguments")
        name = function.get("name")
        if not isinstance(name, str) or not name:
            raise ValueError(f"{where} needs a non-empty function name, got {name!r}")
        arguments = function.get("arguments", {})
        if not isinstance(arguments, (str, Mapping)):
            raise ValueError(f"{where}.arguments must be a JSON string or an object, "
                             f"not {type(arguments).__name__}")
        call_id = call.get("id")
        if call_id is not None and not isinstance(call_id, str):
            raise ValueError(f"{where}.id must be a string, not {type(call_id).__name__}")


MAX_SCHEMA_DEPTH = 64
"""How deeply a tool's parameters schema may nest (walked before any recursive processing)."""


def check_depth(value: Any, field: str, limit: int = MAX_SCHEMA_DEPTH) -> None:
    """Refuse dicts/lists nested deeper than ``limit`` (walked without recursion)."""
    stack: list[tuple[Any, int]] = [(value, 1)]
    while stack:
        node, depth = stack.pop()
        if depth > limit:
            raise ValueError(f"{field} nests deeper than {limit} levels")
        if isinstance(node, Mapping):
            stack.extend((child, depth + 1) for child in node.values())
        elif isinstance(node, (list, tuple)):
            stack.extend((child, depth + 1) for child in node)
