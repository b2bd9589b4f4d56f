"""Routing keys of a prompt: digests of its token prefix at every block boundary, and of the
client's ``prompt_cache_key``.

Two prompts share the key of block ``k`` exactly when their first ``k * block`` tokens are equal,
so the longest key a replica has seen measures how much of the prompt its KV / prompt cache may
hold. Computed incrementally (one pass over the tokens) and bounded in count. A client that names
its conversation (OpenAI's ``prompt_cache_key``, put in ``LMInput.metadata`` by the server) gets
that name as a key of its own, digested to a fixed size whatever the client sent.
"""

from __future__ import annotations

import hashlib
from array import array
from collections.abc import Mapping, Sequence
from typing import Any

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


def routing_cache_key(metadata: Mapping[str, Any]) -> str | None:
    """The digest of ``metadata["prompt_cache_key"]`` (a non-empty string), else None."""
    key = metadata.get("prompt_cache_key")
    if not isinstance(key, str) or not key:
        return None
    return "key:" + hashlib.blake2b(key.encode("utf-8", "surrogatepass"), digest_size=12).hexdigest()
