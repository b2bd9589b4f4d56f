"""How the scheduler uses the prefix cache: lend a sequence a cache at admission, snapshot a
cache that cannot trim at the end of its prompt, take the cache back when the sequence ends.

Only generations without a ``cache=`` of their own take part (a ChatSession's cache wins), and
only in the backend's lane (user iterators bring their own tokens). Nothing here runs per token.
"""

from __future__ import annotations

import logging

from ..model import BackendModel
from ._prefix_cache import PrefixCache, default_prefix_cache_bytes
from ._sequence import ActiveSequence

logger = logging.getLogger("lmstream.scheduler")


class CacheSharing:
    """The scheduler's side of the prefix cache (worker thread only)."""

    def __init__(self, backend: BackendModel, capacity_bytes: int | None) -> None:
        self._backend = backend
        self.cache = PrefixCache(default_prefix_cache_bytes() if capacity_bytes is None
                                 else capacity_bytes)
        self.active = self.cache.enabled and _can_fork(backend)
        """False when the budget is 0 or the backend's caches cannot be forked."""

    def borrow(self, sequence: ActiveSequence) -> None:
        """Give a sequence without a cache a fork of the longest cached prefix of its prompt
        (or a fresh cache), so its KV state can be offered back when it ends."""
        backend = self._backend
        key = backend.prefix_cache_key(sequence.plan.parameters)
        found = self.cache.lookup(key, sequence.plan.prompt)
        if found is None:
            sequence.request.cache = backend.new_cache()
        else:
            sequence.request.cache = found[0]
            sequence.control.cache_source = "prefix_cache"
        sequence.share_key = key

    def snapshot(self, sequence: ActiveSequence) -> None:
        """Offer a copy of a cache that cannot trim as it stands at the end of its prompt:
        a later prompt can only start from such a cache at exactly this boundary."""
        cache = sequence.request.cache
        if cache is None or sequence.share_key is None or cache.can_trim:
            return  # a trimmable cache is offered once, at the end (it covers this boundary)
        try:
            copy = cache.fork()
            if copy is not None:
                self.cache.offer(sequence.share_key, copy)
        except Exception:
            logger.exception("snapshotting a prompt cache failed")

    def give_back(self, sequence: ActiveSequence) -> None:
        """Hand an ended sequence's own cache to the prefix cache (nobody else holds it)."""
        cache, key = sequence.request.cache, sequence.share_key
        sequence.request.cache, sequence.share_key = None, None
        if cache is None or key is None:
            return
        try:
            self.cache.offer(key, cache, len(sequence.plan.prompt))
        except Exception:
            logger.exception("offering a prompt cache to the prefix cache failed")


def _can_fork(backend: BackendModel) -> bool:
    """Whether the backend's caches can be forked (the prefix cache needs it)."""
    try:
        return backend.new_cache().fork() is not None
    except Exception:
        logger.exception("probing the backend's prompt cache failed; the prefix cache is off")
        return False
