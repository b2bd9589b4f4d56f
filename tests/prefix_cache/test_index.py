"""The radix index and the byte-bounded LRU behind the prefix cache, against brute force."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from lmstream import ListPromptCache, PromptCache
from lmstream.scheduling import PrefixCache
from lmstream.scheduling._prefix_index import RadixIndex


class FixedCache(ListPromptCache):
    """A list cache that cannot trim (like an SSM state) when ``trimmable`` is False."""

    def __init__(self, tokens=(), trimmable=True, size=None):
        super().__init__(tokens)
        self.trimmable = trimmable
        self.size = size

    @property
    def can_trim(self) -> bool:
        return self.trimmable

    @property
    def nbytes(self) -> int:
        return self.size if self.size is not None else 8 * len(self.tokens)


def brute(entries, prompt, limit):
    """The best reuse length over all entries, by the rules the index implements."""
    best = 0
    for tokens, can_trim in entries:
        common = 0
        while common < min(len(tokens), len(prompt)) and tokens[common] == prompt[common]:
            common += 1
        if common == len(tokens) and common <= limit:
            best = max(best, common)
        elif can_trim:
            best = max(best, min(common, limit))
    return best


token_lists = st.lists(st.integers(0, 3), min_size=1, max_size=12)


@settings(max_examples=300)
@given(st.lists(st.tuples(token_lists, st.booleans()), max_size=8), token_lists)
def test_lookup_finds_the_longest_usable_prefix(entries, prompt):
    index: RadixIndex[int] = RadixIndex()
    for n, (tokens, can_trim) in enumerate(entries):
        index.add(tokens, n, can_trim)
    limit = len(prompt) - 1
    found = index.lookup(prompt, limit)
    expected = brute(entries, prompt, limit)
    if expected == 0:
        assert found is None
        return
    assert found is not None
    entry, reused, trim = found
    tokens, can_trim = entries[entry]
    assert reused == expected
    assert list(tokens[:reused]) == list(prompt[:reused])
    assert trim == (len(tokens) != reused)
    assert can_trim or not trim


@settings(max_examples=200)
@given(st.lists(st.tuples(token_lists, st.booleans()), max_size=8), st.data())
def test_removing_entries_keeps_the_index_consistent(entries, data):
    index: RadixIndex[int] = RadixIndex()
    for n, (tokens, can_trim) in enumerate(entries):
        index.add(tokens, n, can_trim)
    gone = set(data.draw(st.sets(st.integers(0, max(len(entries) - 1, 0)))))
    for n in sorted(gone):
        if n < len(entries):
            index.remove(entries[n][0], n)
    left = [e for n, e in enumerate(entries) if n not in gone]
    assert index.size == len(left)
    prompt = data.draw(token_lists)
    found = index.lookup(prompt, len(prompt) - 1)
    expected = brute(left, prompt, len(prompt) - 1)
    assert (found[1] if found else 0) == expected
    if found:
        assert found[0] not in gone


def test_hits_and_misses_by_prefix_length():
    cache = PrefixCache(1 << 20)
    cache.offer("k", ListPromptCache(range(10)))
    assert cache.lookup("k", [9, 9, 9]) is None
    for shared in (1, 5, 9, 10):
        prompt = [*list(range(shared)), 99, 98]
        fork, reused = cache.lookup("k", prompt)
        assert reused == shared and fork.tokens == list(range(shared))
    fork, reused = cache.lookup("k", list(range(10)))  # the whole entry: one token left to prefill
    assert reused == 9
    stats = cache.stats()
    assert stats.lookups == 6 and stats.hits == 5 and stats.hit_tokens == 1 + 5 + 9 + 10 + 9
    assert stats.miss_tokens == 3 + 2 * 4 + 1


def test_a_fork_never_changes_the_entry():
    cache = PrefixCache(1 << 20)
    cache.offer("k", ListPromptCache([1, 2, 3, 4]))
    fork, _ = cache.lookup("k", [1, 2, 3, 7])
    fork.tokens.extend([7, 8])
    fork.trim(4)
    again, reused = cache.lookup("k", [1, 2, 3, 4, 5])
    assert reused == 4 and again.tokens == [1, 2, 3, 4]


def test_keys_never_share():
    cache = PrefixCache(1 << 20)
    cache.offer(("m", None), ListPromptCache([1, 2, 3]))
    assert cache.lookup(("m", 4), [1, 2, 3, 4]) is None
    assert cache.lookup(("m", None), [1, 2, 3, 4]) is not None


def test_untrimmable_entries_serve_only_their_exact_boundary():
    cache = PrefixCache(1 << 20)
    cache.offer("k", FixedCache([1, 2, 3, 4], trimmable=False))
    assert cache.lookup("k", [1, 2, 3, 9]) is None  # would need trimming
    assert cache.lookup("k", [1, 2, 3, 4]) is None  # nothing left to prefill
    fork, reused = cache.lookup("k", [1, 2, 3, 4, 5])
    assert reused == 4 and fork.tokens == [1, 2, 3, 4]


def test_eviction_keeps_the_budget_by_bytes_least_recently_used_first():
    cache = PrefixCache(100)
    cache.offer("k", FixedCache([1], size=40))
    cache.offer("k", FixedCache([2], size=40))
    cache.lookup("k", [1, 5])  # entry [1] is now the most recently used
    cache.offer("k", FixedCache([3], size=40))
    stats = cache.stats()
    assert stats.bytes == 80 and stats.entries == 2 and stats.evictions == 1
    assert cache.lookup("k", [2, 5]) is None
    assert cache.lookup("k", [1, 5]) is not None and cache.lookup("k", [3, 5]) is not None
    assert not cache.offer("k", FixedCache([4], size=101))  # larger than the whole budget
    assert cache.stats().bytes <= 100


def test_a_longer_trimmable_entry_replaces_its_prefixes():
    cache = PrefixCache(1 << 20)
    cache.offer("k", ListPromptCache([1, 2]))
    cache.offer("k", FixedCache([1, 2, 3], trimmable=False))
    cache.offer("k", ListPromptCache([1, 2, 3, 4]))
    assert cache.stats().entries == 2  # [1, 2] is covered by [1, 2, 3, 4]; the exact one stays
    assert not cache.offer("k", ListPromptCache([1, 2, 3]))  # covered already
    assert cache.stats().entries == 2


def test_zero_budget_is_off():
    cache = PrefixCache(0)
    assert not cache.enabled and not cache.offer("k", ListPromptCache([1, 2]))


def test_a_cache_without_fork_is_never_reused():
    class Plain(PromptCache):
        def __init__(self) -> None:
            self._t = [1, 2, 3]

        @property
        def tokens(self):
            return self._t

        def trim(self, count):
            return 0

    cache = PrefixCache(1 << 20)
    cache.offer("k", Plain())
    assert cache.lookup("k", [1, 2, 3, 4]) is None


@settings(max_examples=300)
@given(st.lists(st.tuples(token_lists, st.booleans()), max_size=8), token_lists)
def test_branching_finds_the_entries_that_part_from_the_tokens(entries, tokens):
    index: RadixIndex[int] = RadixIndex()
    for n, (held, can_trim) in enumerate(entries):
        index.add(held, n, can_trim)
    expected = []
    for n, (held, can_trim) in enumerate(entries):
        common = 0
        while common < min(len(held), len(tokens)) and held[common] == tokens[common]:
            common += 1
        if can_trim and 0 < common < min(len(held), len(tokens)):
            expected.append((n, common))
    assert sorted(index.branching(tokens)) == sorted(expected)


def test_the_next_turn_of_a_conversation_replaces_the_last_one():
    cache = PrefixCache(1 << 20)
    system, turn1, answer1 = [1, 2, 3, 4], [5, 6], [7, 8]
    cache.offer("k", ListPromptCache(system + turn1 + answer1), prompt_length=6)
    other_user = [1, 2, 3, 4, 9, 9, 7]  # the same system prompt, another question: stays
    cache.offer("k", ListPromptCache([*other_user, 3]), prompt_length=7)
    # turn 2 resends the answer its own way (not 7, 8) and asks more
    turn2 = system + turn1 + [70, 80, 5, 5]
    assert cache.offer("k", ListPromptCache([*turn2, 6]), prompt_length=len(turn2))
    stats = cache.stats()
    assert stats.entries == 2 and stats.bytes == 8 * (len(turn2) + 1 + len(other_user) + 1)
    assert cache.lookup("k", system + turn1 + answer1 + [1])[1] == 6  # the old answer is gone
    assert cache.lookup("k", [*other_user, 1])[1] == 7
    # an entry offered without its prompt length counts as all prompt: never replaced this way
    cache.offer("k", ListPromptCache([1, 2, 3, 4, 40, 41]))
    cache.offer("k", ListPromptCache([1, 2, 3, 4, 40, 42, 43]), prompt_length=5)
    assert cache.lookup("k", [1, 2, 3, 4, 40, 41, 0])[1] == 6


class Watched(FixedCache):
    """A cache whose ``fork`` records what the prefix cache held at the moment it copied."""

    seen: list[int]

    def __init__(self, tokens, watch: PrefixCache, size: int, trimmable: bool = False):
        super().__init__(tokens, trimmable=trimmable, size=size)
        self.watch = watch
        self.seen = []

    def fork(self):
        self.seen.append(self.watch.stats().bytes)
        return FixedCache(self.tokens, trimmable=self.trimmable, size=self.size)


def test_a_snapshot_is_copied_only_after_the_room_for_it_was_made():
    cache = PrefixCache(100)
    for n in range(3):
        cache.offer("k", FixedCache([n], size=30))
    running = Watched([7, 8, 9], cache, size=40)
    assert cache.offer("k", running, copy=True)
    assert running.seen == [60]  # two entries evicted before the copy: held + copy <= budget
    assert cache.stats().bytes == 100 and cache.stats().evictions == 1
    assert not cache.offer("k", running, copy=True)  # the same boundary again: no copy at all
    assert running.seen == [60]


def test_reserve_makes_room_for_the_state_about_to_be_saved():
    cache = PrefixCache(100)
    cache.offer("k", FixedCache([1, 2], size=20))  # 10 bytes per token under "k"
    cache.offer("k", FixedCache([3, 4, 5], size=30))
    cache.offer("k", FixedCache([6, 7, 8, 9], size=40))
    cache.reserve("other", [1, 2], 5)  # nothing known about another layout: nothing evicted
    assert cache.stats().bytes == 90
    cache.reserve("k", [9], 5)  # 50 bytes (the last entry's rate) must fit next to what is held
    assert cache.stats().bytes == 40 and cache.stats().evictions == 2


def test_reserve_drops_the_conversations_last_turn_before_anything_else():
    cache = PrefixCache(100)
    cache.offer("k", ListPromptCache([1, 2, 3]))  # another conversation (24 bytes)
    cache.offer("k", ListPromptCache([5, 6, 7, 8, 9]), prompt_length=3)  # this one's last turn
    cache.offer("k", ListPromptCache([4, 4, 4]))
    # its next turn resent the answer its own way: [5, 6, 7] + [70, ...]; 6 tokens, 48 bytes
    cache.reserve("k", [5, 6, 7, 70, 80, 90], 6)
    assert cache.lookup("k", [5, 6, 7, 8, 9, 0]) is None  # the old turn went, nothing else
    assert cache.stats().bytes == 48 and cache.stats().evictions == 0


def test_checkpoints_per_conversation_are_bounded_oldest_first():
    cache = PrefixCache(1 << 20, max_checkpoints=3)
    tokens = list(range(1, 30))
    for end in (5, 10, 15, 20, 25):
        assert cache.offer("k", FixedCache(tokens[:end], trimmable=False), prompt_length=5)
    assert cache.stats().entries == 3
    assert cache.lookup("k", tokens[:12]) is None  # the checkpoints at 5 and 10 went first
    assert cache.lookup("k", tokens[:17])[1] == 15
    # another conversation keeps its own checkpoints
    cache.offer("k", FixedCache([99, 98], trimmable=False))
    assert cache.stats().entries == 4


def test_a_checkpoint_past_where_the_next_turn_parted_is_dropped():
    cache = PrefixCache(1 << 20)
    prompt, answer = [1, 2, 3, 4], [5, 6, 7, 8]
    cache.offer("k", FixedCache(prompt + answer[:2], trimmable=False), prompt_length=4)
    cache.offer("k", FixedCache(prompt + answer, trimmable=False), prompt_length=4)
    second = [*prompt, 5, 6, 70, 80]  # resent the answer its own way from its third token on
    cache.offer("k", FixedCache(second, trimmable=False), prompt_length=8)
    assert cache.stats().entries == 2  # the answer's end is gone; its checkpoint at 2 stays
    assert cache.lookup("k", [*prompt, 5, 6, 7, 8, 0])[1] == 6


def test_the_checkpoint_bound_is_checked():
    import pytest

    with pytest.raises(ValueError, match="prefix_cache_checkpoints"):
        PrefixCache(100, max_checkpoints=0)


@settings(max_examples=200)
@given(st.lists(st.tuples(token_lists, st.booleans()), max_size=8), token_lists)
def test_branching_of_every_kind_and_prefixes(entries, tokens):
    index: RadixIndex[int] = RadixIndex()
    for n, (held, can_trim) in enumerate(entries):
        index.add(held, n, can_trim)
    parting, before = [], []
    for n, (held, can_trim) in enumerate(entries):
        common = 0
        while common < min(len(held), len(tokens)) and held[common] == tokens[common]:
            common += 1
        if 0 < common < min(len(held), len(tokens)):
            parting.append((n, common))
        if common == len(held) < len(tokens):
            before.append((n, can_trim, len(held)))
    assert sorted(index.branching(tokens, every=True)) == sorted(parting)
    assert sorted(index.prefixes(tokens)) == sorted(before)
