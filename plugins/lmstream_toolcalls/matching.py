"""Start markers: literal strings or small token patterns, compiled to a full and a prefix regex.

The prefix regex answers "could the text at the end of the buffer still become this marker?",
which is what hold-back needs; both regexes run in C, so plain text is scanned at C speed.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass


class _Token:
    """A pattern element that is not a literal string: a run of characters of one class."""

    __slots__ = ("char", "full", "name")

    def __init__(self, name: str, full: str, char: str) -> None:
        self.name, self.full = name, full
        self.char = re.compile(char)
        """Matches one character that may appear in the run."""

    def __repr__(self) -> str:
        return self.name


WS = _Token("WS", r"\s*", r"\s")
"""Optional whitespace (any amount)."""
IDENT = _Token("IDENT", r"[A-Za-z_][A-Za-z0-9_.]*", r"[A-Za-z0-9_.]")
"""A (dotted) identifier such as ``get_weather`` or ``math.sqrt``."""

PatternItem = str | _Token


@dataclass(frozen=True)
class Pattern:
    """A start marker made of literals, ``WS`` and ``IDENT``; the first item must be a literal."""

    items: tuple[PatternItem, ...]

    def __init__(self, *items: PatternItem) -> None:
        if not items or not isinstance(items[0], str) or not items[0]:
            raise ValueError("a start pattern must begin with a non-empty literal")
        object.__setattr__(self, "items", tuple(items))

    @property
    def first_char(self) -> str:
        """The character every match starts with (the fast path looks for it)."""
        first = self.items[0]
        assert isinstance(first, str)
        return first[0]

    def full_regex(self) -> str:
        """Regex source matching a complete marker."""
        return "".join(re.escape(i) if isinstance(i, str) else i.full for i in self.items)

    def prefix_regex(self) -> str:
        """Regex source matching any non-empty prefix of a marker (anchor it with ``\\Z``)."""
        tail = ""
        for item in reversed(self.items):
            optional_tail = f"(?:{tail})?" if tail else ""
            if isinstance(item, str):
                chained = optional_tail
                for ch in reversed(item):
                    chained = re.escape(ch) + (f"(?:{chained})?" if chained else "")
                tail = chained
            else:
                tail = item.full + optional_tail
        return tail


Marker = str | Pattern


def _can_hold(pattern: Pattern, char: str) -> bool:
    """Whether ``char`` may appear in a match of ``pattern`` after its first character."""
    first = pattern.items[0]
    assert isinstance(first, str)
    rest = [first[1:], *pattern.items[1:]]
    for item in rest:
        if char in item if isinstance(item, str) else item.char.fullmatch(char):
            return True
    return False


def as_pattern(marker: Marker) -> Pattern:
    """A literal string becomes a one-item pattern."""
    return marker if isinstance(marker, Pattern) else Pattern(marker)


class StartTable:
    """All start markers of a format compiled together, in priority order."""

    def __init__(self, markers: Sequence[Marker]) -> None:
        patterns = [as_pattern(m) for m in markers]
        if not patterns:
            raise ValueError("a format needs at least one start marker")
        # No groups in the combined regex: with them sre loses its literal-prefix scan (~100x).
        self.search = re.compile("|".join(f"(?:{p.full_regex()})" for p in patterns)).search
        """Finds the leftmost complete marker (``rule_at`` tells which one)."""
        self._full_each = [re.compile(p.full_regex()).match for p in patterns]
        self.partial_search = re.compile(
            "|".join(f"(?:{p.prefix_regex()})\\Z" for p in patterns)
        ).search
        """Finds the leftmost place where a marker may be starting and the buffer ends."""
        self._partial_each = [re.compile(f"(?:{p.prefix_regex()})\\Z").match for p in patterns]
        self.first_chars = "".join(sorted({p.first_char for p in patterns}))
        """Every character a marker can start with (the fast path looks for them with ``in``)."""

        self.nested = any(_can_hold(a, b.first_char) for a in patterns for b in patterns)
        """Whether a marker's prefix may contain another marker; if not, a partial marker can
        only start after the last complete one, which saves a scan."""

    def rule_at(self, buf: str, pos: int) -> int:
        """Index of the first marker (in priority order) that matches completely at ``pos``."""
        return next(i for i, match in enumerate(self._full_each) if match(buf, pos))

    def earlier_partial(self, buf: str, pos: int, index: int) -> bool:
        """Whether a marker listed before ``index`` may still match at ``pos`` (needs more text)."""
        return any(match(buf, pos) for match in self._partial_each[:index])
