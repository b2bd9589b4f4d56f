"""Reasoning blocks inside the parsed text: tool-call markers in them never start a call.

In a generation the reasoning split runs before the parser, so reasoning rarely reaches it; it
does when the parser is used on its own (on a whole reply, as peers' parsers are) or when the
split is off. A model that thinks "the format is <tool_call>{...}</tool_call>" before it calls
would otherwise make the call twice. Text from an opening marker through its closing marker
(markers included) is passed through as plain text, streamed as it arrives up to the first
tool-call start marker inside it (see ``ReasoningBlock``).
"""

from __future__ import annotations

from collections.abc import Sequence

from .matching import StartTable

REASONING_BLOCKS: tuple[tuple[str, str], ...] = (
    ("<think>", "</think>"),            # Qwen3, DeepSeek-R1/V3.1, GLM-4.5+, MiniMax-M2, SmolLM3
    ("<seed:think>", "</seed:think>"),  # ByteDance Seed-OSS
)
"""(opening, closing) markers of the reasoning blocks every format knows by default. Both start
with ``<``, which most formats' markers start with too, so plain text pays nothing for them."""
MISTRAL_THINK = ("[THINK]", "[/THINK]")
"""Mistral's Magistral (the ``mistral`` format adds it)."""
KIMI_THINK = ("◁think▷", "◁/think▷")
"""Kimi's thinking models (the ``kimi_k2`` format adds it)."""


class Openings:
    """A format's reasoning-block openings, found with ``str.find`` (C speed; kept out of the
    start-marker regex, whose literal-prefix scan more alternatives would slow down)."""

    __slots__ = ("blocks", "first_chars")

    def __init__(self, blocks: Sequence[tuple[str, str]]) -> None:
        self.blocks = tuple(blocks)
        if any(not o or not c for o, c in self.blocks):
            raise ValueError("reasoning markers must not be empty")
        self.first_chars = "".join(sorted({o[0] for o, _ in self.blocks}))

    def find(self, buf: str, limit: int) -> tuple[int, str, str] | None:
        """The first opening that starts before ``limit``: (offset, opening, closing)."""
        best: tuple[int, str, str] | None = None
        for opening, closing in self.blocks:
            at = buf.find(opening, 0, limit + len(opening) - 1)
            if at != -1 and (best is None or at < best[0]):
                best = (at, opening, closing)
        return best

    def partial(self, buf: str) -> int:
        """Where an opening may be starting at the end of ``buf`` (``len(buf)``: nowhere)."""
        at = n = len(buf)
        for opening, _ in self.blocks:
            i = buf.find(opening[0], max(0, n - len(opening) + 1))
            while i != -1:
                if opening.startswith(buf[i:]):
                    at = min(at, i)
                    break
                i = buf.find(opening[0], i + 1)
        return at


class ReasoningBlock:
    """One open reasoning block. Its text streams through as plain text until a tool-call start
    marker appears in it; from there the text is held: the closing marker makes all of it text
    (a call the model only thought about), the end of the stream without one releases it to be
    parsed as usual (a block that never closes is no reasoning: its calls count)."""

    __slots__ = ("close", "held", "searched")

    def __init__(self, close: str) -> None:
        self.close = close
        self.held = False
        self.searched = 0

    def scan(self, buf: str, table: StartTable, final: bool) -> tuple[int, str]:
        """(length of ``buf`` decided as plain text, outcome): ``closed`` (the block ends after
        it), ``held`` (a call marker starts right after it), ``release`` (the stream ended
        inside held text: parse the rest as usual) or ``wait``."""
        close = self.close
        if self.held:
            index = buf.find(close, max(0, self.searched - len(close) + 1))
            if index != -1:
                return index + len(close), "closed"
            self.searched = len(buf)
            return 0, "release" if final else "wait"
        index = buf.find(close)
        limit = len(buf) if index == -1 else index
        m = table.search(buf)
        if m is not None and m.start() < limit:
            self.held, self.searched = True, 0
            return m.start(), "held"
        if index != -1:
            return index + len(close), "closed"
        if final:
            return len(buf), "wait"
        keep = min(len(close) - 1, len(buf))
        while keep and not close.startswith(buf[len(buf) - keep:]):
            keep -= 1
        cut = len(buf) - keep
        partial = table.partial_search(buf)
        return (min(cut, partial.start()) if partial is not None else cut), "wait"
