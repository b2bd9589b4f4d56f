"""One bounded walk over a parsed request body: lone surrogates and runaway nesting are 400s.

JSON allows ``"\\ud800"`` (a lone surrogate) in any string, and no tokenizer, template or JSON
encoder downstream can handle one: caught deep inside, it used to become a 500 with a Python
exception text. Nesting hundreds of levels deep makes recursive consumers (schema checkers,
template engines) hit Python's recursion limit. NaN and infinity (Python's JSON
reader accepts ``NaN``, ``Infinity``) are refused anywhere too, also inside free-form objects
(a tool call's ``input``, a schema) that no typed field checks. ``check_body`` walks the whole body once,
without recursion (work bounded by the body size, which the server already bounds), and
refuses the first such value with a 400 naming its path (``messages[2].content``).
"""

from __future__ import annotations

import math
from typing import Any

from .errors import APIError
from .jsonparse import gc_paused

MAX_BODY_DEPTH = 128
"""How deeply a request body may nest (a JSON schema of 100 nested objects is about 200 levels
of the body: ``properties`` then the property, per level; the core bounds schemas further)."""


def has_surrogate(text: str) -> bool:
    """Whether ``text`` holds a lone surrogate (not encodable as UTF-8)."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return True
    return False


def _path(parts: list[str | int]) -> str:
    text = ""
    for part in parts:
        text += f"[{part}]" if isinstance(part, int) else ("." if text else "") + part
    return text or "body"


@gc_paused()  # a walk of a million values must not trigger full collections (GIL held)
def check_body(body: Any, max_depth: int = MAX_BODY_DEPTH) -> None:
    """A 400 for the first string (or key), in document order, holding a lone surrogate, the
    first number that is NaN or infinite, or the first value nested deeper than ``max_depth`` levels; the message names its whole path, the
    ``param`` the path (a surrogate) or the top-level field (nesting). Walks iteratively: no
    recursion, whatever the depth. Every route calls this one walk."""
    stack: list[tuple[Any, list[str | int]]] = [(body, [])]
    while stack:
        node, parts = stack.pop()
        if len(parts) > max_depth:
            raise APIError(400, f"{_path(parts)} nests deeper than {max_depth} levels",
                           param=_path(parts[:1]) if parts else None, code="nesting_too_deep")
        if isinstance(node, str):
            if has_surrogate(node):
                where = _path(parts)
                raise APIError(400, f"{where} holds a lone surrogate (not valid Unicode text)",
                               param=where, code="invalid_value")
        elif isinstance(node, dict):
            for key in node:
                if isinstance(key, str) and has_surrogate(key):
                    where = _path(parts)
                    key_path = f"{where}.<key>" if parts else "<key>"
                    raise APIError(400, f"{key_path} holds a lone surrogate (not valid Unicode text)",
                                   param=where, code="invalid_value")
            stack.extend((child, [*parts, key]) for key, child in reversed(list(node.items())))
        elif isinstance(node, list):
            stack.extend((child, [*parts, index]) for index, child in reversed(list(enumerate(node))))
        elif isinstance(node, float) and not math.isfinite(node):
            where = _path(parts)
            raise APIError(400, f"{where} is {node!r}: JSON numbers must be finite", param=where,
                           code="invalid_value")
