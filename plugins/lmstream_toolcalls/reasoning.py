"""Reasoning blocks inside the parsed text: tool-call markers in them never start a call.

In a generation the reasoning split runs before the parser, so reasoning rarely reaches it; it
does when the parser is used on its own (on a whole reply, as peers' parsers are) or when the
split is off. A model that thinks "the format is <tool_call>{...}</tool_call>" before it calls
would otherwise make the call twice. Text from an opening marker through its closing marker
(markers included) is passed through as plain text, streamed as it arrives; only a possible
start of the closing marker at the end of a delta is held back.
"""

from __future__ import annotations

REASONING_BLOCKS: tuple[tuple[str, str], ...] = (
    ("<think>", "</think>"),            # Qwen3, DeepSeek-R1/V3.1, GLM-4.5+, MiniMax-M2, SmolLM3
    ("<seed:think>", "</seed:think>"),  # ByteDance Seed-OSS
    ("[THINK]", "[/THINK]"),            # Mistral Magistral
    ("◁think▷", "◁/think▷"),            # Kimi thinking models
)
"""(opening, closing) markers of the reasoning blocks every built-in format knows."""


def split_quiet(buf: str, close: str, final: bool) -> tuple[int, bool]:
    """How much of ``buf`` (text inside a reasoning block) is decided plain text.

    Returns (length, closed): with ``closed`` the block ends after ``length`` characters (its
    closing marker included); otherwise ``length`` stops before a possible start of the closing
    marker at the end of ``buf`` (all of it when ``final``).
    """
    index = buf.find(close)
    if index != -1:
        return index + len(close), True
    if final:
        return len(buf), False
    keep = min(len(close) - 1, len(buf))
    while keep and not close.startswith(buf[len(buf) - keep:]):
        keep -= 1
    return len(buf) - keep, False
