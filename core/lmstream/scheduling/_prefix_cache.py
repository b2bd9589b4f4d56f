"""The context's prefix cache: KV states of earlier generations, reused by later prompts.

Every generation that brings no ``cache=`` of its own looks up the longest cached prefix of its
prompt, starts from a *fork* of that entry (so the entry is never mutated by the sequence that
reuses it, and two sequences can start from the same entry at once) and, when it ends, offers
its own cache back (prompt plus generated tokens, so the next turn of a conversation finds this
turn's answer). Entries are grouped by the backend's ``prefix_cache_key`` (everything that
makes KV states incompatible) and held under a byte budget, evicting the least recently used
first by the bytes the backend reports (``PromptCache.nbytes``). Everything here runs on the
context's worker thread; ``stats`` may be read from any thread.
"""

from __future__ import annotations

import os
from collections import OrderedDict
from collections.abc import Hashable, Sequence
from dataclasses import dataclass

from ..model import PromptCache
from ._prefix_index import RadixIndex

DEFAULT_FRACTION = 0.10
"""The default budget: this share of the machine's physical memory ..."""
DEFAULT_MAX_BYTES = 4 << 30
"""... at most 4 GiB ..."""
FALLBACK_BYTES = 1 << 30
"""... or 1 GiB where the physical memory cannot be read."""
DEFAULT_CHECKPOINTS = 8
"""Entries that cannot trim (checkpoints) kept per conversation, as llama.cpp's server keeps
8 context checkpoints per slot."""


def default_prefix_cache_bytes() -> int:
    """The default ``prefix_cache_bytes``: 10% of physical memory, at most 4 GiB (1 GiB when
    the memory size is unknown)."""
    try:
        total = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (AttributeError, ValueError, OSError):
        return FALLBACK_BYTES
    if total <= 0:
        return FALLBACK_BYTES
    return min(int(total * DEFAULT_FRACTION), DEFAULT_MAX_BYTES)


@dataclass(frozen=True)
class PrefixCacheStats:
    """Counters of one context's prefix cache (``context.prefix_cache.stats()``)."""

    capacity_bytes: int
    """The budget (0: the cache is off)."""
    bytes: int
    """Bytes the entries hold now (their backends' ``nbytes``)."""
    entries: int
    lookups: int
    """Generations that looked for a cached prefix."""
    hits: int
    """Lookups that reused at least one token."""
    hit_tokens: int
    """Prompt tokens reused (not prefilled) across all lookups."""
    miss_tokens: int
    """Prompt tokens the lookups did not find (prefilled)."""
    inserts: int
    evictions: int
    """Entries dropped to stay within the budget."""


@dataclass(eq=False)
class _Entry:
    key: Hashable
    tokens: tuple[int, ...]
    cache: PromptCache
    nbytes: int
    can_trim: bool
    prompt_length: int
    """How many of ``tokens`` were the prompt (the rest were generated)."""
    serial: int
    """Insertion order (the oldest checkpoint of a conversation goes first)."""


class PrefixCache:
    """Entries by layout key in radix trees, one LRU across them, bounded by ``capacity_bytes``."""

    def __init__(self, capacity_bytes: int, max_checkpoints: int = DEFAULT_CHECKPOINTS) -> None:
        if isinstance(capacity_bytes, bool) or not isinstance(capacity_bytes, int) or capacity_bytes < 0:
            raise ValueError(f"prefix_cache_bytes must be an int >= 0, not {capacity_bytes!r}")
        if isinstance(max_checkpoints, bool) or not isinstance(max_checkpoints, int) or max_checkpoints < 1:
            raise ValueError(f"prefix_cache_checkpoints must be an int >= 1, not {max_checkpoints!r}")
        self.capacity_bytes = capacity_bytes
        self.max_checkpoints = max_checkpoints
        """Entries that cannot trim kept on one conversation's path at most."""
        self._serial = 0
        self._per_token: dict[Hashable, float] = {}
        self.drops = 0
        """Entries dropped so far (evicted, replaced or cleared)."""
        """Bytes per token of the last entry offered under each key (``reserve``'s estimate)."""
        self._trees: dict[Hashable, RadixIndex[_Entry]] = {}
        self._lru: OrderedDict[_Entry, None] = OrderedDict()
        self._bytes = 0
        self._lookups = self._hits = self._hit_tokens = self._miss_tokens = 0
        self._inserts = self._evictions = 0

    @property
    def enabled(self) -> bool:
        """False when the budget is 0."""
        return self.capacity_bytes > 0

    def lookup(self, key: Hashable, prompt: Sequence[int]) -> tuple[PromptCache, int] | None:
        """A fork of the entry reusing the most of ``prompt`` (always leaving one prompt token
        to prefill, for its logits), trimmed to the tokens reused: ``(cache, tokens)``."""
        self._lookups += 1
        found = None
        tree = self._trees.get(key)
        if tree is not None and len(prompt) > 1:
            found = tree.lookup(prompt, len(prompt) - 1)
        fork: PromptCache | None = None
        reused = 0
        if found is not None:
            entry, reused, trim = found
            fork = entry.cache.fork()
            if fork is not None and trim:
                fork.trim_to(reused)
            if fork is None or len(fork.tokens) != reused:
                fork, reused = None, 0
            else:
                self._lru.move_to_end(entry)
        self._miss_tokens += len(prompt) - reused
        if fork is None:
            return None
        self._hits += 1
        self._hit_tokens += reused
        return fork, reused

    def offer(self, key: Hashable, cache: PromptCache, prompt_length: int | None = None, *,
              copy: bool = False) -> bool:
        """Keep ``cache`` unless it is empty, larger than the budget, or already covered by an
        entry; True if kept.

        Without ``copy`` the cache is handed over (nobody may change it afterwards); with
        ``copy`` (a snapshot of a cache a sequence still runs on) a fork is kept, made only
        after the entries it replaces and the least recently used ones it needs room from were
        dropped, so the held bytes and the copy never pass the budget together.

        ``prompt_length``: how many of its tokens were the prompt (default: all). A kept cache
        replaces the entries it makes redundant: the trimmable ones it extends (if it can
        trim itself), and those whose whole prompt it starts with but whose generated tail it
        does not repeat (an agent's next turn, where the client sent back its own version of
        the answer: the old entry's only unique tokens are an answer nobody sends again).
        A cache that cannot trim is a checkpoint: at most ``max_checkpoints`` of them lie on
        one conversation's path (the entries its tokens start with); the oldest go first."""
        if not self.enabled:
            return False
        tokens = tuple(cache.tokens)
        nbytes = max(0, int(cache.nbytes))
        if not tokens or nbytes > self.capacity_bytes:
            return False
        can_trim = cache.can_trim
        tree = self._trees.setdefault(key, RadixIndex())
        same = tree.exact(tokens)
        if same and (not can_trim or any(t for _, t in same)):
            self._lru.move_to_end(same[-1][0])
            return False
        if can_trim:
            longer = tree.covered(tokens)
            if longer is not None:
                self._lru.move_to_end(longer)
                return False
            for shorter, _ in tree.trimmable_prefixes(tokens):
                self._drop(shorter)
        for other, shared in tree.branching(tokens, every=True):
            if other.prompt_length <= shared:
                self._drop(other)
        if not can_trim:
            path = sorted((e for e, t, _ in tree.prefixes(tokens) if not t), key=lambda e: e.serial)
            for oldest in path[:max(0, len(path) + 1 - self.max_checkpoints)]:
                self._drop(oldest)
        self._make_room(nbytes)
        if copy:
            fork = cache.fork()
            if fork is None or tuple(fork.tokens) != tokens:
                self._forget(key)
                return False
            cache, nbytes = fork, max(0, int(fork.nbytes))
            self._make_room(nbytes)  # (a copy larger than its source: rare, and after the fact)
        prompt = len(tokens) if prompt_length is None else max(0, min(prompt_length, len(tokens)))
        self._per_token[key] = nbytes / len(tokens)
        self._serial += 1
        entry = _Entry(key, tokens, cache, nbytes, can_trim, prompt, self._serial)
        self._trees.setdefault(key, tree).add(tokens, entry, can_trim)
        self._lru[entry] = None
        self._bytes += nbytes
        self._inserts += 1
        return True

    def reserve(self, key: Hashable, prompt: Sequence[int], tokens: int) -> None:
        """Make room for the entry of a generation on ``prompt`` (``tokens`` long in all) that
        is about to be offered, before the backend allocates it (llama.cpp saves the state to
        host memory as the generation ends): first drop the entries that entry will replace
        anyway (the trimmable ones ``prompt`` extends, those whose whole prompt ``prompt``
        starts with but whose answer it does not repeat: the conversation's last turn), then
        evict least recently used ones for its size, estimated from the last entry offered
        under ``key``. The saved state then fits the budget with the held entries."""
        tree = self._trees.get(key)
        if not self.enabled or tree is None:
            return
        for shorter, _ in tree.trimmable_prefixes(prompt):
            self._drop(shorter)
        for other, shared in tree.branching(prompt, every=True):
            if other.prompt_length <= shared:
                self._drop(other)
        self._forget(key)
        per_token = self._per_token.get(key)
        if per_token is not None:
            self._make_room(min(self.capacity_bytes, int(per_token * tokens)))

    def _make_room(self, nbytes: int) -> None:
        """Evict least recently used entries until ``nbytes`` more fit the budget."""
        while self._lru and self._bytes + nbytes > self.capacity_bytes:
            self._drop(next(iter(self._lru)))
            self._evictions += 1

    def _forget(self, key: Hashable) -> None:
        """Drop ``key``'s tree if it holds nothing (an offer that kept nothing made it)."""
        tree = self._trees.get(key)
        if tree is not None and not tree.size:
            del self._trees[key]

    def _drop(self, entry: _Entry) -> None:
        tree = self._trees.get(entry.key)
        if tree is not None:
            tree.remove(entry.tokens, entry)
            if not tree.size:
                del self._trees[entry.key]
        self._lru.pop(entry, None)
        self._bytes -= entry.nbytes
        self.drops += 1

    def clear(self) -> None:
        """Drop every entry."""
        for entry in list(self._lru):
            self._drop(entry)

    def stats(self) -> PrefixCacheStats:
        """The counters now."""
        return PrefixCacheStats(self.capacity_bytes, self._bytes, len(self._lru), self._lookups,
                                self._hits, self._hit_tokens, self._miss_tokens, self._inserts,
                                self._evictions)
