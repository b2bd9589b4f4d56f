"""A radix tree over token ids: where the prefix cache finds the longest reusable prefix.

Each edge is labelled with a run of token ids (a compressed trie), so a lookup walks the prompt
once (its cost grows with the prompt, not with the number of entries). An entry sits at the
node where its token ids end. Two kinds of reuse are found in the same walk:

- an entry that ends on the prompt's path is usable as it is (an exact boundary: any cache,
  trimmable or not);
- an entry that can trim is usable up to its common prefix with the prompt, so every node
  counts the trimmable entries below it (``trimmable``) and the walk remembers the deepest
  point whose subtree holds one.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Generic, TypeVar

from ..model import common_prefix_length

E = TypeVar("E")


class _Node(Generic[E]):
    """One node: the edge label from its parent, children by first id, entries ending here."""

    __slots__ = ("children", "entries", "label", "parent", "trimmable")

    def __init__(self, label: tuple[int, ...], parent: _Node[E] | None) -> None:
        self.label = label
        self.parent = parent
        self.children: dict[int, _Node[E]] = {}
        self.entries: list[tuple[E, bool]] = []
        """(entry, can_trim) pairs whose token ids end at this node, oldest first."""
        self.trimmable = 0
        """Trimmable entries at this node and below."""


class RadixIndex(Generic[E]):
    """Entries keyed by token-id sequences; ``lookup`` gives the longest usable prefix."""

    def __init__(self) -> None:
        self._root: _Node[E] = _Node((), None)
        self.size = 0

    def add(self, tokens: Sequence[int], entry: E, can_trim: bool) -> None:
        """Index ``entry`` under ``tokens`` (an empty sequence is not indexed)."""
        node = self._path(tokens)
        node.entries.append((entry, can_trim))
        self.size += 1
        if can_trim:
            self._count(node, 1)

    def remove(self, tokens: Sequence[int], entry: E) -> None:
        """Drop ``entry`` (indexed under ``tokens``); prunes nodes left empty."""
        node = self._find(tokens)
        if node is None:
            return
        for index, (held, can_trim) in enumerate(node.entries):
            if held is entry:
                del node.entries[index]
                self.size -= 1
                if can_trim:
                    self._count(node, -1)
                break
        self._prune(node)

    def exact(self, tokens: Sequence[int]) -> list[tuple[E, bool]]:
        """The entries indexed under exactly ``tokens``."""
        node = self._find(tokens)
        return list(node.entries) if node is not None else []

    def trimmable_prefixes(self, tokens: Sequence[int]) -> list[tuple[E, int]]:
        """Trimmable entries indexed under a strict prefix of ``tokens``, with their lengths
        (a longer trimmable entry makes them redundant)."""
        found: list[tuple[E, int]] = []
        node, depth = self._root, 0
        while depth < len(tokens):
            found.extend((e, depth) for e, can_trim in node.entries if can_trim)
            child = node.children.get(tokens[depth])
            if child is None or tuple(tokens[depth:depth + len(child.label)]) != child.label:
                break
            node, depth = child, depth + len(child.label)
        return found

    def prefixes(self, tokens: Sequence[int]) -> list[tuple[E, bool, int]]:
        """Every entry indexed under a strict prefix of ``tokens``: ``(entry, can_trim, length)``,
        shortest first."""
        found: list[tuple[E, bool, int]] = []
        node, depth = self._root, 0
        while depth < len(tokens):
            found.extend((e, can_trim, depth) for e, can_trim in node.entries)
            child = node.children.get(tokens[depth])
            if child is None or tuple(tokens[depth:depth + len(child.label)]) != child.label:
                break
            node, depth = child, depth + len(child.label)
        return found

    def branching(self, tokens: Sequence[int], *, every: bool = False) -> list[tuple[E, int]]:
        """Trimmable entries (``every``: entries of both kinds) that share a prefix with
        ``tokens`` and then differ (neither a prefix of ``tokens`` nor extending it), each with
        the length (at least 1) of that shared prefix. Without ``every`` it visits only
        subtrees that hold a trimmable entry."""
        found: list[tuple[E, int]] = []
        node, depth = self._root, 0
        while depth < len(tokens):
            on_path = tokens[depth]
            for first, branch in node.children.items():
                if depth and first != on_path and (every or branch.trimmable):
                    found.extend((e, depth) for e in self._entries_in(branch, every))
            child = node.children.get(on_path)
            if child is None:
                break
            matched = common_prefix_length(child.label, tokens[depth:depth + len(child.label)])
            if matched < len(child.label):
                if depth + matched < len(tokens) and (every or child.trimmable):  # they part inside the label
                    found.extend((e, depth + matched) for e in self._entries_in(child, every))
                break  # (``tokens`` ending inside the label: the entries below extend it)
            node, depth = child, depth + matched
        return found

    def covered(self, tokens: Sequence[int]) -> E | None:
        """A trimmable entry whose token ids start with ``tokens`` (it makes a new trimmable
        entry for ``tokens`` redundant), or None."""
        node = self._find(tokens)
        return self._trimmable_below(node) if node is not None and node.trimmable else None

    def lookup(self, prompt: Sequence[int], limit: int) -> tuple[E, int, bool] | None:
        """The entry reusing the most of ``prompt`` (at most ``limit`` tokens): ``(entry,
        tokens reused, needs trimming)``, or None when nothing covers even one token."""
        node, depth = self._root, 0
        exact: tuple[E, int] | None = None
        deepest: _Node[E] | None = None
        reach = 0
        while True:
            if node.trimmable:
                deepest, reach = node, depth
            if node.entries and 0 < depth <= limit:
                exact = (node.entries[-1][0], depth)
            if depth >= len(prompt):
                break
            child = node.children.get(prompt[depth])
            if child is None:
                break
            label = child.label
            matched = common_prefix_length(label, prompt[depth:depth + len(label)])
            if matched < len(label):
                if child.trimmable:
                    deepest, reach = child, depth + matched
                break
            node, depth = child, depth + len(label)
        reach = min(reach, limit)
        if exact is not None and exact[1] >= reach:
            return exact[0], exact[1], False
        if deepest is None or reach <= 0:
            return None
        entry = self._trimmable_below(deepest)
        return (entry, reach, True) if entry is not None else None

    # -- tree upkeep ------------------------------------------------------------------------
    def _path(self, tokens: Sequence[int]) -> _Node[E]:
        """The node for ``tokens``, creating (and splitting edges) as needed."""
        node, depth = self._root, 0
        while depth < len(tokens):
            child = node.children.get(tokens[depth])
            if child is None:
                leaf: _Node[E] = _Node(tuple(tokens[depth:]), node)
                node.children[tokens[depth]] = leaf
                return leaf
            label = child.label
            matched = common_prefix_length(label, tokens[depth:depth + len(label)])
            if matched < len(label):
                middle: _Node[E] = _Node(label[:matched], node)
                middle.trimmable = child.trimmable
                node.children[label[0]] = middle
                child.label = label[matched:]
                child.parent = middle
                middle.children[child.label[0]] = child
                child = middle
            node, depth = child, depth + matched
        return node

    def _find(self, tokens: Sequence[int]) -> _Node[E] | None:
        node, depth = self._root, 0
        while depth < len(tokens):
            child = node.children.get(tokens[depth])
            if child is None or tuple(tokens[depth:depth + len(child.label)]) != child.label:
                return None
            node, depth = child, depth + len(child.label)
        return node if depth == len(tokens) else None

    @staticmethod
    def _count(node: _Node[E] | None, delta: int) -> None:
        while node is not None:
            node.trimmable += delta
            node = node.parent

    @staticmethod
    def _trimmable_below(node: _Node[E]) -> E | None:
        """The nearest trimmable entry at or below ``node`` (the shortest such path)."""
        while True:
            for entry, can_trim in reversed(node.entries):
                if can_trim:
                    return entry
            nxt = next((c for c in node.children.values() if c.trimmable), None)
            if nxt is None:
                return None
            node = nxt

    @staticmethod
    def _entries_in(node: _Node[E], every: bool) -> list[E]:
        """Every entry at or below ``node`` (``every`` False: only the trimmable ones)."""
        found: list[E] = []
        stack = [node]
        while stack:
            here = stack.pop()
            found.extend(e for e, can_trim in here.entries if every or can_trim)
            stack.extend(c for c in here.children.values() if every or c.trimmable)
        return found

    def _prune(self, node: _Node[E]) -> None:
        """Remove empty leaves upwards and merge a node left with one child into it."""
        while node.parent is not None and not node.entries and not node.children:
            parent = node.parent
            del parent.children[node.label[0]]
            node = parent
        if node.parent is not None and not node.entries and len(node.children) == 1:
            (child,) = node.children.values()
            child.label = node.label + child.label
            child.parent = node.parent
            node.parent.children[child.label[0]] = child
