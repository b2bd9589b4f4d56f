"""Reasoning blocks inside the parsed text: tool-call markers in them never start a call.

In a generation the reasoning split runs before the parser, so reasoning rarely reaches it; it
does when the parser is used on its own (on a whole reply, as peers' parsers are) or when the
split is off. A model that thinks "the format is <tool_call>{...}</tool_call>" before it calls
would otherwise make the call twice. Text from an opening marker through its closing marker
(markers included) is passed through as plain text, streamed as it arrives up to the first
tool-call start marker inside it (see ``ReasoningBlock``).
"""

from __future__ import annotations

from collections.abc import Callable

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

    def scan(self, buf: str, table: StartTable, is_call: Callable[[str, int], bool],
             final: bool) -> tuple[int, str]:
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
        pos = 0
        while (m := table.search(buf, pos)) is not None and m.start() < limit:
            if is_call(buf, m.start()):
                self.held, self.searched = True, 0
                return m.start(), "held"
            pos = m.start() + 1
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
