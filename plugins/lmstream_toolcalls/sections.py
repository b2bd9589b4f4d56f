"""Sections that hold several calls (DeepSeek, Kimi): split a complete section into call blocks.

Splitting skips quoted spans like the end finders do, so a call marker inside a JSON string
never splits a call. Whitespace between blocks is silent; any other stray text is rejected.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from .calls import BadCall, CallSyntaxError, ParsedCall, ParseResult
from .scanning import Cursor, Lexer

BlockParser = Callable[[str, tuple[int, int]], ParsedCall]
"""``parse_block(body, span) -> ParsedCall``; raise CallSyntaxError when the body is bad."""


class SectionSplitter:
    """Splits ``begin … end`` call blocks out of a section body."""

    def __init__(self, begin: str, end: str, quotes: Sequence[tuple[str, str]] = (),
                 escape: str | None = None) -> None:
        self.begin, self.end = begin, end
        self.lexer = Lexer([begin, end], quotes, escape)

    def calls(self, text: str, start: int, stop: int, parse_block: BlockParser) -> ParseResult:
        """Calls in ``text[start:stop]``; each item's span covers its block markers."""
        body = text[:stop]
        cursor = Cursor(self.lexer, start)
        items: ParseResult = []
        pos = start
        while True:
            m = cursor.next(body)
            if m is None:
                break
            self._stray(text, pos, m.start(), items)
            if m.group() != self.begin:
                items.append(BadCall(f"{self.end} without {self.begin}", (m.start(), m.end())))
                pos = m.end()
                continue
            block_start = m.start()
            close = cursor.next(body)
            if close is None or close.group() != self.end:
                end = close.start() if close is not None else stop
                items.append(BadCall(f"call block not closed with {self.end}", (block_start, end)))
                if close is None:
                    return items
                cursor.pos = pos = close.start()
                continue
            span = (block_start, close.end())
            try:
                items.append(parse_block(text[m.end():close.start()], span))
            except CallSyntaxError as exc:
                items.append(BadCall(str(exc), span))
            pos = close.end()
        self._stray(text, pos, stop, items)
        if not items:
            raise CallSyntaxError(f"the section holds no {self.begin} call")
        return items

    @staticmethod
    def _stray(text: str, start: int, end: int, items: ParseResult) -> None:
        """Non-space text between blocks is rejected, not dropped."""
        chunk = text[start:end]
        if chunk.strip():
            lead = len(chunk) - len(chunk.lstrip())
            trail = len(chunk.rstrip())
            items.append(BadCall(f"unexpected text in the call section: {chunk.strip()[:40]!r}",
                                 (start + lead, start + trail)))
