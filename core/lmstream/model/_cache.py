"""The prompt (KV) cache contract a backend implements, and a list-backed one for backends
that keep no real KV state and for tests.

Besides ``tokens`` and ``trim``, the members the context's prefix cache needs: ``fork`` (an
independent copy, so a shared entry is never mutated by the sequence that reuses it),
``can_trim`` (whether ``trim`` keeps the state or must start afresh) and ``nbytes`` (what the
copy holds, for the byte budget). See docs/plugins.md.
"""

from __future__ import annotations

import copy
from abc import ABC, abstractmethod
from collections.abc import Sequence


class PromptCache(ABC):
    """A backend's KV cache plus the token ids it holds; callers may keep and pass it back."""

    @property
    @abstractmethod
    def tokens(self) -> list[int]:
        """The token ids whose keys/values the cache holds, in order."""

    @abstractmethod
    def trim(self, count: int) -> int:
        """Drop ``count`` tokens from the end; returns how many were dropped."""

    def trim_to(self, length: int) -> None:
        """Keep only the first ``length`` tokens."""
        excess = len(self.tokens) - length
        if excess > 0:
            self.trim(excess)

    @property
    def nbytes(self) -> int:
        """Bytes the cache has allocated (0 when unknown)."""
        return 0

    @property
    def can_trim(self) -> bool:
        """Whether ``trim`` keeps the remaining entries (False for states that cannot go back:
        rotated windows, quantized or recurrent/SSM layers). The prefix cache reuses such a
        cache only at exactly the length it holds."""
        return True

    def fork(self) -> PromptCache | None:
        """An independent copy holding the same tokens and state, which later generations may
        extend or trim without touching this one (sharing immutable buffers is fine: the
        contract is copy-on-write). None (the default) when the backend cannot copy its
        caches: the context's prefix cache is then off for this backend."""
        return None


class ListPromptCache(PromptCache):
    """A cache that is just the list of token ids seen: for backends that keep no real KV state
    (scripted, echo, examples) and for tests. ``nbytes`` counts 8 bytes per token id."""

    def __init__(self, tokens: Sequence[int] = ()) -> None:
        self._tokens: list[int] = list(tokens)

    @property
    def tokens(self) -> list[int]:
        """The token ids held, in order (the list itself: backends append to it)."""
        return self._tokens

    def trim(self, count: int) -> int:
        """Drop ``count`` ids from the end (clamped to what is there); returns how many went."""
        count = max(0, min(count, len(self._tokens)))
        if count:
            del self._tokens[-count:]
        return count

    @property
    def nbytes(self) -> int:
        """8 bytes per token id held."""
        return 8 * len(self._tokens)

    def fork(self) -> ListPromptCache:
        """A copy of the same class with its own list of ids."""
        clone = copy.copy(self)
        clone._tokens = list(self._tokens)
        return clone


def common_prefix_length(a: Sequence[int], b: Sequence[int]) -> int:
    """Length of the longest common prefix of two id sequences."""
    n = min(len(a), len(b))
    i = 0
    while i < n and a[i] == b[i]:
        i += 1
    return i
