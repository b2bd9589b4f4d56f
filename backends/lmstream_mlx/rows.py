"""One sequence's state in the MLX batch runner, shared by the runner (batch.py) and its
draft verification (verify.py), so neither module imports the other."""

from __future__ import annotations

from dataclasses import dataclass

import mlx.core as mx

from lmstream.backend import SequenceRequest

from .cache import MlxPromptCache
from .generation import DecodeSetup


@dataclass
class Row:
    """One sequence's state in the runner."""

    request: SequenceRequest
    setup: DecodeSetup
    owned: bool
    rest: list[int]
    """Prompt ids the cache did not hold at ``add``; all but the last are prefilled."""
    cached: int
    batchable: bool
    done: int = 0
    next_input: int = -1
    prefilled: bool = False
    generated: int = 0
    ahead: mx.array | None = None
    """The next token, already queued (a lone sequence's pipelined step): its step fed
    ``next_input``, which ``cache.tokens`` already lists."""
    failure: BaseException | None = None
    """An error the queued step hit: the sequence's next result."""

    @property
    def cache(self) -> MlxPromptCache:
        """The sequence's prompt cache."""
        return self.setup.cache
