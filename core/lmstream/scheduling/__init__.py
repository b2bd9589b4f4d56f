"""The context's worker loop: a worker thread, the scheduler that batches sequences between
decode steps, one sequence's state from admission to its final Info, and the prefix cache
that shares KV states across generations."""

from __future__ import annotations

from ._prefix_cache import (
    DEFAULT_CHECKPOINTS,
    PrefixCache,
    PrefixCacheStats,
    default_prefix_cache_bytes,
)
from ._scheduler import DEFAULT_PREFILL_CHUNK_S, Scheduler
from ._sequence import SequencePlan
from ._sharing import DEFAULT_CHECKPOINT_TOKENS
from ._worker import Worker

__all__ = [
    "DEFAULT_CHECKPOINTS",
    "DEFAULT_CHECKPOINT_TOKENS",
    "DEFAULT_PREFILL_CHUNK_S",
    "PrefixCache",
    "PrefixCacheStats",
    "Scheduler",
    "SequencePlan",
    "Worker",
    "default_prefix_cache_bytes",
]
