"""Claude Code's billing line, removed from the system prompt before templating.

Claude Code puts ``x-anthropic-billing-header: cc_version=...; cc_entrypoint=...;`` first in
the system prompt (its first system block, or the first line of a string system prompt).
It means nothing to a local model, and versions that add a per-request nonce (``cch=``) make
every prompt differ from its first tokens, which defeats every prefix cache. The server drops
it unless ``ServerLimits.keep_billing_header`` is set.
"""

from __future__ import annotations

BILLING_PREFIX = "x-anthropic-billing-header:"
"""How the billing line starts (compared case-insensitively, after leading whitespace)."""


def is_billing_line(text: str) -> bool:
    """Whether ``text`` (a system block or line) is Claude Code's billing line."""
    return text.lstrip()[:len(BILLING_PREFIX)].lower() == BILLING_PREFIX


def strip_billing(texts: list[str]) -> list[str]:
    """System texts without the billing line: a first block that is one, or its first line."""
    if not texts:
        return texts
    first = texts[0]
    if not is_billing_line(first):
        return texts
    _, newline, rest = first.lstrip().partition("\n")
    remaining = rest.lstrip("\n") if newline else ""
    return ([remaining] if remaining else []) + texts[1:]
