"""LlamaCppPromptCache: a sequence's KV entries, saved as bytes, plus the token ids they hold.

While a generation runs, its KV lives in an engine slot; when it ends, the runner saves the
slot's entries here (``llama_state_seq_get_data``) and frees the slot. The next generation
with this cache restores them into whatever slot it gets and trims to the common prefix.
``trim`` between generations only shortens the token list: the extra entries are dropped
when the state is restored.

For the core's prefix cache, ``fork`` shares the saved bytes (immutable, so copy-on-write
comes free: a generation on the fork saves new bytes when it ends), ``nbytes`` is their size
and ``can_trim`` is False for recurrent and hybrid models, whose state cannot go back to an
earlier position (they are reused only at exactly the length saved).
"""

from __future__ import annotations

from typing import Any, TypeAlias

import numpy as np
from numpy.typing import NDArray

from lmstream import PromptCache

SavedState: TypeAlias = bytes | NDArray[np.uint8]
"""A sequence's KV entries as ``llama_state_seq_get_data`` wrote them (the engine writes them
straight into a read-only numpy buffer: no zero-filled allocation, no copy to ``bytes``)."""


class LlamaCppPromptCache(PromptCache):
    """A reusable prompt cache for one llama.cpp model (pass it back with ``cache=``)."""

    def __init__(self, engine: Any) -> None:
        self._engine = engine
        self._tokens: list[int] = []
        self.state: SavedState | None = None
        """Saved KV entries of at least ``tokens`` (None while empty)."""
        self.in_use = False
        """True while a generation runs on this cache."""

    @property
    def tokens(self) -> list[int]:
        """The token ids whose keys/values the cache holds, in order."""
        return list(self._tokens)

    def __len__(self) -> int:
        return len(self._tokens)

    def trim(self, count: int) -> int:
        """Drop ``count`` tokens from the end; returns how many were dropped."""
        if self.in_use:
            raise RuntimeError("this prompt cache is in use by a running generation")
        count = min(max(count, 0), len(self._tokens))
        if count:
            del self._tokens[-count:]
            if not self._tokens:
                self.state = None
        return count

    @property
    def can_trim(self) -> bool:
        """False for recurrent/hybrid models (llama.cpp cannot drop their last positions)."""
        return bool(self._engine.can_trim)

    def fork(self) -> LlamaCppPromptCache:
        """A copy sharing the saved bytes (never changed in place) with its own token list."""
        clone = LlamaCppPromptCache(self._engine)
        clone.state = self.state
        clone._tokens = list(self._tokens)
        return clone

    def store(self, state: SavedState | None, tokens: list[int]) -> None:
        """Record what a finished generation left in its slot."""
        self.state = state if tokens else None
        self._tokens = list(tokens) if state is not None else []

    def reset(self) -> None:
        """Forget everything."""
        self.state = None
        self._tokens = []

    @property
    def nbytes(self) -> int:
        """Bytes of the saved KV entries."""
        return len(self.state) if self.state is not None else 0
