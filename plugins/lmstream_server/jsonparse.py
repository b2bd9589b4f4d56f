"""A JSON parser that lets other threads run: for request bodies with very many values.

``json.loads`` is one C call: it holds the GIL until the whole document is built. A 4 MiB body
of a million small values takes 0.5 s or more on a loaded machine, and during that time no
other thread of the process runs (the event loop, the generation workers), however the work is
put on a pool thread. ``cooperative_loads`` walks the containers in Python, so the interpreter
can switch threads between any two values (every few milliseconds), and leaves each scalar
(strings, numbers, literals) to the stdlib's C scanner: the result equals ``json.loads``'s.
It is slower in total, so the server only uses it for bodies with many values.
"""

from __future__ import annotations

import contextlib
import gc
import json
import json.decoder
import re
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

YIELD_EVERY = 2048
"""Values built between two explicit GIL hand-overs (``time.sleep(0)``)."""
_WHITESPACE = re.compile(r"[ \t\n\r]*")
_DECODER = json.JSONDecoder()
_SCAN: Callable[[str, int], tuple[Any, int]] = getattr(_DECODER, "scan_once")  # noqa: B009 - the C scanner
_SCANSTRING: Callable[[str, int], tuple[str, int]] = getattr(json.decoder, "scanstring")  # noqa: B009


def _key(text: str, index: int) -> tuple[str, int]:
    """An object key at ``index`` and the position after its colon (and whitespace)."""
    if text[index:index + 1] != '"':
        raise ValueError(f"expecting a property name enclosed in double quotes at char {index}")
    key, index = _SCANSTRING(text, index + 1)
    index = _WHITESPACE.match(text, index).end()  # type: ignore[union-attr]
    if text[index:index + 1] != ":":
        raise ValueError(f"expecting ':' delimiter at char {index}")
    return key, _WHITESPACE.match(text, index + 1).end()  # type: ignore[union-attr]


class TooDeep(ValueError):
    """The document nests containers deeper than allowed."""


_gc_lock = threading.Lock()
_gc_holders = 0
_gc_was_enabled = False


@contextlib.contextmanager
def gc_paused() -> Iterator[None]:
    """No cyclic garbage collection while building a large document (process-wide, nestable).

    Building a million containers triggers full collections that each traverse the whole heap
    with the GIL held (0.1-0.2 s apiece on a loaded machine). Afterwards collection resumes as
    before: the next young collection walks what was built once. The new objects are not aged
    into the oldest generation (``gc.freeze(); gc.unfreeze()``): that moved every other
    request's young garbage there too, where the collector's full-collection rule never counts
    it (a 400's exception cycle holding its body: +0.5-35 MB per rejected request, never
    reclaimed), and it undid the server's frozen start-up heap (``serving.freeze_start_up_heap``).
    """
    global _gc_holders, _gc_was_enabled
    with _gc_lock:
        if _gc_holders == 0:
            _gc_was_enabled = gc.isenabled()
            gc.disable()
        _gc_holders += 1
    try:
        yield
    finally:
        with _gc_lock:
            _gc_holders -= 1
            if _gc_holders == 0 and _gc_was_enabled:
                gc.enable()


def cooperative_loads(text: str, max_depth: int | None = None) -> Any:
    """``json.loads(text)`` for a ``str``, built value by value (no recursion, no long C call).

    ``max_depth``: ``TooDeep`` when containers nest deeper (checked as they open).
    """
    skip = _WHITESPACE.match
    end = len(text)
    stack: list[tuple[list[Any] | dict[str, Any], str | None]] = []
    index = skip(text, 0).end()  # type: ignore[union-attr]
    countdown = YIELD_EVERY
    while True:
        countdown -= 1
        if not countdown:  # hand the GIL over now and then: waiting threads run at once
            countdown = YIELD_EVERY
            time.sleep(0)
        char = text[index:index + 1]
        value: Any
        if char == "[":
            index = skip(text, index + 1).end()  # type: ignore[union-attr]
            if text[index:index + 1] == "]":
                value, index = [], index + 1
            else:
                stack.append(([], None))
                if max_depth is not None and len(stack) > max_depth:
                    raise TooDeep(f"containers nest deeper than {max_depth} levels at char {index}")
                continue
        elif char == "{":
            index = skip(text, index + 1).end()  # type: ignore[union-attr]
            if text[index:index + 1] == "}":
                value, index = {}, index + 1
            else:
                first, index = _key(text, index)
                stack.append(({}, first))
                if max_depth is not None and len(stack) > max_depth:
                    raise TooDeep(f"containers nest deeper than {max_depth} levels at char {index}")
                continue
        else:
            try:
                value, index = _SCAN(text, index)
            except StopIteration:
                raise ValueError(f"expecting a value at char {index}") from None
        while True:  # attach the finished value to its container, closing containers as they end
            if not stack:
                index = skip(text, index).end()  # type: ignore[union-attr]
                if index != end:
                    raise ValueError(f"extra data at char {index}")
                return value
            container, key = stack[-1]
            if isinstance(container, list):
                container.append(value)
            else:
                assert key is not None
                container[key] = value
            index = skip(text, index).end()  # type: ignore[union-attr]
            char = text[index:index + 1]
            if char == ",":
                index = skip(text, index + 1).end()  # type: ignore[union-attr]
                if key is not None:
                    following, index = _key(text, index)
                    stack[-1] = (container, following)
                break
            if char == ("]" if key is None else "}"):
                stack.pop()
                value, index = container, index + 1
                continue
            raise ValueError(f"expecting ',' or the end of the container at char {index}")


def loads_bytes(body: bytes, max_depth: int | None = None) -> Any:
    """``cooperative_loads`` of a body in any encoding ``json.loads`` accepts for bytes (GC paused)."""
    text = body.decode(json.detect_encoding(body), "surrogatepass")
    with gc_paused():
        return cooperative_loads(text, max_depth)
