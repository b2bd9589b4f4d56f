"""End finders: where does a tool-call region that started at a marker end?

A finder is resumable: ``scan(buf)`` looks only at text it has not decided yet and returns the
end offset once it is certain, or None to wait for more text. Quotes (JSON strings, Python
strings, XML parameter values, Gemma's ``<|"|>``) are skipped, so marker-looking text inside
them never ends a call. Every decision depends on the text only, never on how it was cut.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Protocol

JSON_QUOTES: tuple[tuple[str, str], ...] = (('"', '"'),)
PYTHON_QUOTES: tuple[tuple[str, str], ...] = (
    ('"""', '"""'), ("'''", "'''"), ('"', '"'), ("'", "'"),
)
BACKSLASH = "\\"

_NON_SPACE = re.compile(r"\S").search


class Finder(Protocol):
    """One region's end finder (fresh per region)."""

    def scan(self, buf: str) -> int | None:
        """End offset of the region in ``buf`` (which starts at the region), or None: need more."""
        ...

    def at_finish(self, buf: str) -> int | None:
        """Where the region ends when no more text will come, or None: it is incomplete."""
        ...


class EndSpec(Protocol):
    """Compiled description of how a region ends; makes one finder per region."""

    def new(self, marker_end: int) -> Finder:
        """A finder for a region whose start marker ends at ``marker_end``."""
        ...


class Lexer:
    """Finds significant tokens outside quoted spans (compiled once per format)."""

    def __init__(self, tokens: Sequence[str], quotes: Sequence[tuple[str, str]] = (),
                 escape: str | None = None) -> None:
        openers = [q[0] for q in quotes]
        every = sorted(set(tokens) | set(openers), key=len, reverse=True)
        if not every or any(not t for t in every):
            raise ValueError("a lexer needs non-empty tokens")
        self.search = re.compile("|".join(re.escape(t) for t in every)).search
        self.span = max(len(t) for t in every)
        self.closers: dict[str, re.Pattern[str]] = {}
        self.inner_span = 1
        for opener, closer in quotes:
            # Each branch opens with its literal and the group marking it comes last, so the
            # regex engine skips to the branches' first characters at C speed (a branch that
            # opens with a group is tried at every position: 4-7 times slower).
            source = f"{re.escape(closer)}(?P<close>)"
            if escape is not None:
                source = f"{re.escape(escape)}(?P<esc>.)|" + source
                self.inner_span = max(self.inner_span, 2)
            self.closers[opener] = re.compile(source, re.DOTALL)
            self.inner_span = max(self.inner_span, len(closer))
        self.longer = {t: [u for u in every if len(u) > len(t) and u.startswith(t)] for t in every}

    def undecided(self, buf: str, start: int, token: str) -> bool:
        """True when ``token`` at ``start`` may still grow into a longer token (buffer too short)."""
        rest = buf[start:]
        return any(len(u) > len(rest) and u.startswith(rest) for u in self.longer[token])


class Cursor:
    """Resumable position in a buffer for one Lexer: yields tokens outside quotes."""

    __slots__ = ("closer", "lexer", "pos")

    def __init__(self, lexer: Lexer, pos: int) -> None:
        self.lexer, self.pos = lexer, pos
        self.closer: re.Pattern[str] | None = None

    def next(self, buf: str) -> re.Match[str] | None:
        """The next token outside quotes, or None when the buffer ends first."""
        lexer, pos, closer = self.lexer, self.pos, self.closer
        while True:
            if closer is None:
                m = lexer.search(buf, pos)
                if m is None:
                    self.pos, self.closer = max(pos, len(buf) - lexer.span + 1), None
                    return None
                token = m.group()
                if lexer.longer[token] and lexer.undecided(buf, m.start(), token):
                    self.pos, self.closer = m.start(), None
                    return None
                pos = m.end()
                closer = lexer.closers.get(token)
                if closer is None:
                    self.pos, self.closer = pos, None
                    return m
            else:
                m = closer.search(buf, pos)
                if m is None:
                    self.pos, self.closer = max(pos, len(buf) - lexer.inner_span + 1), closer
                    return None
                pos = m.end()
                if m.lastgroup == "close":
                    closer = None


class Delimited:
    """A region that ends at an end marker outside quotes (``</tool_call>``, ``<|call|>``, ...).

    ``exclusive`` end markers end the region *before* themselves (they start the next thing).
    When the stream ends inside a quote, the first literal end marker is used as a fallback.
    """

    def __init__(self, ends: Sequence[str], quotes: Sequence[tuple[str, str]] = (),
                 escape: str | None = None, exclusive: Sequence[str] = ()) -> None:
        self.ends, self.exclusive = tuple(ends), tuple(exclusive)
        self.lexer = Lexer([*self.ends, *self.exclusive], quotes, escape)

    def new(self, marker_end: int) -> DelimitedFinder:
        """A finder for one region."""
        return DelimitedFinder(self, marker_end)


class DelimitedFinder:
    """State of one Delimited region."""

    __slots__ = ("cursor", "marker_end", "spec")

    def __init__(self, spec: Delimited, marker_end: int) -> None:
        self.spec, self.marker_end = spec, marker_end
        self.cursor = Cursor(spec.lexer, marker_end)

    def scan(self, buf: str) -> int | None:
        """End offset after the end marker (before an exclusive one), or None."""
        m = self.cursor.next(buf)
        if m is None:
            return None
        return m.start() if m.group() in self.spec.exclusive else m.end()

    def at_finish(self, buf: str) -> int | None:
        """Fallback when the stream ended inside a quote: the first literal end marker."""
        best: int | None = None
        for end in (*self.spec.ends, *self.spec.exclusive):
            index = buf.find(end, self.marker_end)
            if index != -1 and (best is None or index < best):
                best = index if end in self.spec.exclusive else index + len(end)
        return best


class Immediate:
    """A region that is only its marker (``<|end|>``)."""

    def new(self, marker_end: int) -> ImmediateFinder:
        """A finder for one region."""
        return ImmediateFinder(marker_end)


class ImmediateFinder:
    """Ends right after the marker."""

    __slots__ = ("marker_end",)

    def __init__(self, marker_end: int) -> None:
        self.marker_end = marker_end

    def scan(self, buf: str) -> int | None:
        """Always the marker's end."""
        return self.marker_end

    def at_finish(self, buf: str) -> int | None:
        """Always the marker's end."""
        return self.marker_end


_PAIRS = {"{": "}", "[": "]", "(": ")"}


class Balanced:
    """A region that ends where a bracketed value closes (no end marker: Mistral, Llama 3 JSON).

    After the start marker and optional whitespace the value must open with one of ``first``;
    anything else ends the region right there (the parser then reports what it expected).
    ``separator`` lets several values follow each other (``{...}; {...}``). ``opens``: where
    the value may open: ``after`` the marker, at the region's ``start`` (the marker is a pattern
    such as ``{"name":``), or at the marker's ``last`` character (``functools[``).
    """

    def __init__(self, first: str = "{[", brackets: str = "{}[]",
                 quotes: Sequence[tuple[str, str]] = JSON_QUOTES, escape: str | None = BACKSLASH,
                 separator: str | None = None, opens: str = "after") -> None:
        if any(c not in _PAIRS for c in first):
            raise ValueError(f"first must be opening brackets, got {first!r}")
        if opens not in ("after", "start", "last"):
            raise ValueError(f"opens must be 'after', 'start' or 'last', got {opens!r}")
        self.first, self.separator, self.opens = first, separator, opens
        self.opening = {c: _PAIRS[c] for c in brackets if c in _PAIRS}
        self.closing = set(self.opening.values())
        self.lexer = Lexer(list(brackets), quotes, escape)

    def new(self, marker_end: int) -> BalancedFinder:
        """A finder for one region."""
        start = {"after": marker_end, "start": 0, "last": marker_end - 1}[self.opens]
        return BalancedFinder(self, start)


class BalancedFinder:
    """State of one Balanced region: leading space, bracket stack, then optional separator."""

    __slots__ = ("closed_at", "cursor", "pos", "spec", "stack", "state")

    def __init__(self, spec: Balanced, marker_end: int) -> None:
        self.spec = spec
        self.state = "lead"
        self.pos = marker_end
        self.cursor = Cursor(spec.lexer, marker_end)
        self.stack: list[str] = []
        self.closed_at = -1

    def _open_value(self, buf: str, index: int) -> int | None:
        """Start a value at ``index``; returns an end offset when the region must end there."""
        char = buf[index]
        if char not in self.spec.first:
            return index
        self.stack = [self.spec.opening[char]]
        self.cursor.pos, self.cursor.closer = index + 1, None
        self.state = "body"
        return None

    def scan(self, buf: str) -> int | None:
        """End offset after the closing bracket, or where a value should have opened."""
        while True:
            if self.state == "lead" or self.state == "next":
                m = _NON_SPACE(buf, self.pos)
                if m is None:
                    self.pos = len(buf)
                    return None
                if self.state == "next" and buf[m.start()] not in self.spec.first:
                    return self.closed_at
                end = self._open_value(buf, m.start())
                if end is not None:
                    return end
            elif self.state == "body":
                m = self.cursor.next(buf)
                if m is None:
                    return None
                char = m.group()
                if char in self.spec.opening:
                    self.stack.append(self.spec.opening[char])
                elif char != self.stack[-1]:
                    return m.end()
                else:
                    self.stack.pop()
                    if not self.stack:
                        self.closed_at = m.end()
                        if self.spec.separator is None:
                            return self.closed_at
                        self.state, self.pos = "after", self.closed_at
            else:  # "after": is a separator and another value coming?
                m = _NON_SPACE(buf, self.pos)
                if m is None:
                    self.pos = len(buf)
                    return None
                if buf[m.start()] != self.spec.separator:
                    return self.closed_at
                self.state, self.pos = "next", m.end()

    def at_finish(self, buf: str) -> int | None:
        """A value that closed is complete; an open one is incomplete."""
        return self.closed_at if self.state in ("after", "next") else None
