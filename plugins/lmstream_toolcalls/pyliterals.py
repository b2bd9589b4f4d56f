"""Python call lists as models write them, made readable by ``ast`` (``pythonic``, ``lfm2``).

Models write things Python itself refuses, and their reference parsers accept them (vLLM's
``lfm2`` and ``pythonic`` parsers): raw newlines, carriage returns and NUL bytes inside a
single-quoted string (a multi-line shell command), integers with leading zeros (``month=07``:
read as 7, as the reference parser does), and unescaped quotes inside strings
(``q="say "hi" now"``). ``prepare`` rewrites the source so ``ast`` can parse it, keeping every
offset recoverable: raw characters in strings become placeholder characters that do not occur in
the text (restored in the values afterwards), leading zeros become spaces, and the only
insertions are backslashes before stray quotes (their offsets are returned).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

_EVENT = re.compile(r"""\\.|'''|\"\"\"|['"]|[\n\r\x00]|(?<![\w.])0+(?=[0-9])""", re.DOTALL)
_ENDS_STRING = re.compile(r"[ \t]*(?:[,)\]}:]|\Z)")
_RAW = "\n\r\x00"
_ESCAPES = frozenset("\n\\'\"abfnrtv01234567xNuU")
"""Characters after a backslash that make a valid Python escape (the rest warn, and mean
the backslash itself)."""
_BACKSLASH = re.compile(r"\\(.)", re.DOTALL)


def has_invalid_escape(source: str) -> bool:
    """Whether ``source`` holds a backslash Python would warn about (``ast.parse`` prints a
    SyntaxWarning for ``"\\d"``); escaped backslashes (``"\\\\ "``) are read in pairs."""
    return "\\" in source and any(
        m.group(1) not in _ESCAPES for m in _BACKSLASH.finditer(source))


@dataclass
class Prepared:
    """Source that ``ast`` can read, and how to map it back to the model's text."""

    source: str
    inserted: list[int] = field(default_factory=list)
    """Offsets in ``source`` of the backslashes inserted before stray quotes (ascending)."""
    restore: dict[int, str] = field(default_factory=dict)
    """``str.translate`` table from placeholder characters back to the raw characters."""

    def values(self, value: Any) -> Any:
        """``value`` (from ``ast``) with the placeholders in its strings turned back."""
        if not self.restore:
            return value
        if isinstance(value, str):
            return value.translate(self.restore)
        if isinstance(value, list):
            return [self.values(v) for v in value]
        if isinstance(value, dict):
            return {self.values(k): self.values(v) for k, v in value.items()}
        return value


def _placeholders(source: str) -> dict[str, str]:
    """One private-use character per raw character, none of them present in ``source``."""
    free = (chr(c) for c in range(0xE000, 0xF900) if chr(c) not in source)
    return {raw: next(free) for raw in _RAW}


def prepare(source: str, repair: bool) -> Prepared | None:
    """``source`` rewritten for ``ast``, or None when nothing needed rewriting.

    Strings are tracked as Python does; with ``repair`` a quote ends its string only before
    ``,`` ``)`` ``]`` ``}`` ``:`` or the end, and a backslash is inserted before any other one.
    Triple-quoted strings are left alone (raw newlines are legal there). Invalid escapes in
    non-raw strings (``'\\d'``) get their backslash doubled: the same value, and no warning.
    """
    out: list[str] = []
    inserted: list[int] = []
    table: dict[str, str] | None = None
    last = length = pos = 0
    quote: str | None = None
    raw = changed = False
    while (m := _EVENT.search(source, pos)) is not None:
        token, pos = m.group(), m.end()
        kind = token[0]
        if kind == "\\":  # an escape inside a string (or a stray backslash: ast decides)
            if quote is not None and not raw and token[1:] not in _ESCAPES:
                # Python keeps "\\d" as backslash + d, and so does "\\\\d", without a warning
                piece = source[last:m.start()]
                out += (piece, "\\")
                length += len(piece)
                inserted.append(length)
                length += 1
                last, changed = m.start(), True
            continue
        if kind == "0":  # leading zeros of an integer: outside strings only
            if quote is None:
                piece = source[last:m.start()]
                out += (piece, " " * len(token))
                length += len(piece) + len(token)
                last, changed = pos, True
            continue
        if kind in _RAW:
            if quote is not None and (len(quote) == 1 or kind == "\x00"):
                table = table or _placeholders(source)
                piece = source[last:m.start()]
                out += (piece, table[kind])
                length += len(piece) + 1
                last, changed = pos, True
            continue
        if quote is None:
            quote, raw = token, m.start() > 0 and source[m.start() - 1] in "rR"
            continue
        if len(quote) == 1 and len(token) == 3:
            token, pos = token[0], m.start() + 1
        if token != quote:
            continue
        if not repair or len(quote) == 3 or _ENDS_STRING.match(source, pos):
            quote = None
            continue
        piece = source[last:m.start()]
        out.append(piece)
        length += len(piece)
        inserted.append(length)
        out.append("\\")
        length += 1
        last, changed = m.start(), True
    if not changed:
        return None
    out.append(source[last:])
    restore = {ord(v): k for k, v in table.items()} if table else {}
    return Prepared("".join(out), inserted, restore)
