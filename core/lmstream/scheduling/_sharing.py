"""How the scheduler uses the prefix cache: lend a sequence a cache at admission, take
checkpoints of a cache that cannot trim (the end of its prompt, and every
``checkpoint_tokens`` tokens of prompt or answer), take the cache back when the sequence ends.

Only generations without a ``cache=`` of their own take part (a ChatSession's cache wins), and
only in the backend's lane (user iterators bring their own tokens). Per generated token the
scheduler compares ``sequence.generated`` with ``sequence.checkpoint_due`` (infinite unless a
checkpoint can be due), nothing more; the rest runs per admission, prefill chunk or checkpoint.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable

from ..model import BackendModel
from ._heap import release_free_memory
from ._prefix_cache import DEFAULT_CHECKPOINTS, PrefixCache, default_prefix_cache_bytes
from ._sequence import ActiveSequence

logger = logging.getLogger("lmstream.scheduler")

DEFAULT_CHECKPOINT_TOKENS = 256
"""Tokens between two checkpoints of a cache that cannot trim (0: only the end of the prompt
and of the generation)."""


class CacheSharing:
    """The scheduler's side of the prefix cache (worker thread only)."""

    def __init__(self, backend: BackendModel, capacity_bytes: int | None,
                 checkpoint_tokens: int = DEFAULT_CHECKPOINT_TOKENS,
                 max_checkpoints: int = DEFAULT_CHECKPOINTS) -> None:
        if isinstance(checkpoint_tokens, bool) or not isinstance(checkpoint_tokens, int) or checkpoint_tokens < 0:
            raise ValueError(f"prefix_cache_checkpoint_tokens must be an int >= 0, not {checkpoint_tokens!r}")
        self._backend = backend
        self.cache = PrefixCache(default_prefix_cache_bytes() if capacity_bytes is None
                                 else capacity_bytes, max_checkpoints)
        self.active = self.cache.enabled and _can_fork(backend)
        """False when the budget is 0 or the backend's caches cannot be forked."""
        self.checkpoint_tokens = checkpoint_tokens

    def borrow(self, sequence: ActiveSequence, checkpoints: bool = True) -> None:
        """Give a sequence without a cache a fork of the longest cached prefix of its prompt
        (or a fresh cache), so its KV state can be offered back when it ends.
        ``checkpoints``: whether its cache may be copied while it runs (the backend's batch
        runner keeps the cache current between calls; a token iterator need not)."""
        backend = self._backend
        key = backend.prefix_cache_key(sequence.plan.parameters)
        found = self.cache.lookup(key, sequence.plan.prompt)
        if found is None:
            sequence.request.cache = backend.new_cache()
        else:
            sequence.request.cache = found[0]
            sequence.control.cache_source = "prefix_cache"
        sequence.share_key = key
        if self.checkpoint_tokens and checkpoints:  # while it prefills: the next checkpoint's length
            sequence.checkpoint_due = (0 if found is None else found[1]) + self.checkpoint_tokens

    def snapshot(self, sequence: ActiveSequence, done: bool = True) -> None:
        """After a prefill chunk (``done``: the last one) of a cache that cannot trim: offer a
        copy at the end of the prompt, or every ``checkpoint_tokens`` tokens of it; a later
        prompt can only start from such a cache at exactly such a boundary. At the end of the
        prompt the answer's checkpoints are scheduled (``checkpoint_due``)."""
        cache = sequence.request.cache
        if cache is None or sequence.share_key is None:
            return
        every = self.checkpoint_tokens
        if done:  # from now on ``checkpoint_due`` counts generated tokens
            sequence.checkpoint_due = every if every else math.inf
        else:
            held = len(cache.tokens)
            if held < sequence.checkpoint_due:
                return
            sequence.checkpoint_due = held + every
        if not cache.can_trim:  # a trimmable cache is offered once, at the end (it covers every boundary)
            self._offer_copy(sequence)

    def checkpoint(self, sequence: ActiveSequence) -> None:
        """Every ``checkpoint_tokens`` generated tokens (the scheduler calls it when
        ``sequence.generated`` reaches ``sequence.checkpoint_due``): offer a copy of a cache
        that cannot trim, so a next turn that re-renders this answer differently part-way
        still starts from the last checkpoint before the difference."""
        cache = sequence.request.cache
        if cache is None or sequence.share_key is None:
            sequence.checkpoint_due = math.inf
            return
        sequence.checkpoint_due = sequence.generated + self.checkpoint_tokens
        if not cache.can_trim:
            self._offer_copy(sequence)

    def _offer_copy(self, sequence: ActiveSequence) -> None:
        cache, key = sequence.request.cache, sequence.share_key
        assert cache is not None and key is not None
        try:  # the prefix cache makes room before it copies
            self._dropping(lambda: self.cache.offer(key, cache, len(sequence.plan.prompt), copy=True))
        except Exception:
            logger.exception("snapshotting a prompt cache failed")

    def reserve(self, sequence: ActiveSequence) -> None:
        """Before an ending sequence's runner saves its state (llama.cpp copies it to host
        memory): evict what that state will need, so the saved copy never comes on top of a
        full budget."""
        if sequence.share_key is not None:
            prompt = sequence.plan.prompt
            self._dropping(lambda: self.cache.reserve(sequence.share_key, prompt,
                                                      len(prompt) + sequence.generated))

    def give_back(self, sequence: ActiveSequence) -> None:
        """Hand an ended sequence's own cache to the prefix cache (nobody else holds it)."""
        cache, key = sequence.request.cache, sequence.share_key
        sequence.request.cache, sequence.share_key = None, None
        sequence.checkpoint_due = math.inf
        if cache is None or key is None:
            return
        try:
            self._dropping(lambda: self.cache.offer(key, cache, len(sequence.plan.prompt)))
        except Exception:
            logger.exception("offering a prompt cache to the prefix cache failed")

    def _dropping(self, change: Callable[[], object]) -> None:
        """Run a change of the prefix cache; if it dropped entries, return their memory."""
        before = self.cache.drops
        change()
        if self.cache.drops != before:
            release_free_memory()


def _can_fork(backend: BackendModel) -> bool:
    """Whether the backend's caches can be forked (the prefix cache needs it)."""
    try:
        return backend.new_cache().fork() is not None
    except Exception:
        logger.exception("probing the backend's prompt cache failed; the prefix cache is off")
        return False
