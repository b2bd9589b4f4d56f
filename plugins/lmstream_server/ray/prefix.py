"""Routing keys of a prompt: digests of its token prefix at every block boundary.

Two prompts share the key of block ``k`` exactly when their first ``k * block`` tokens are equal,
so the longest key a replica has seen measures how much of the prompt its KV / prompt cache may
hold. Computed incrementally (one pass over the tokens) and bounded in count.
"""

from __future__ import annotations

import hashlib
from array import array
from collections.abc import Sequence

BLOCK_TOKENS = 16
"""Tokens per routing block (a prompt shorter than one block has no key: least-loaded routing)."""
MAX_KEYS = 4096
"""At most this many keys per prompt (64k tokens at the default block size); longer tails add none."""


def prefix_keys(tokens: Sequence[int], block: int = BLOCK_TOKENS, max_keys: int = MAX_KEYS) -> tuple[str, ...]:
    """The digest of ``tokens[:k * block]`` for ``k = 1 .. min(len // block, max_keys)``, shortest first."""
    if block < 1 or max_keys < 0:
        raise ValueError("block must be at least 1 and max_keys at least 0")
    digest = hashlib.blake2b(digest_size=12)
    keys: list[str] = []
    count = min(len(tokens) // block, max_keys)
    for index in range(count):
        digest.update(array("q", tokens[index * block:(index + 1) * block]).tobytes())
        keys.append(digest.copy().hexdigest())
    return tuple(keys)
