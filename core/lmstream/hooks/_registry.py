"""Typed name registries: first registration wins, unknown names are answered with the known ones.

A name registered twice (say a third-party ``json`` tool parser) is not fatal: the first
registration (plugins are called in pluggy's order: tryfirst, then last registered first) keeps the
name, the clash is logged as a warning naming both plugins and kept in ``Registry.clashes`` for
``lmstream plugins``.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from typing import Generic, TypeVar

from ..errors import UnknownNameError

T = TypeVar("T")
logger = logging.getLogger("lmstream.hooks")


class Registry(Generic[T]):
    """Maps names to plugin objects of one kind (backends, tool parsers, templates, observers)."""

    def __init__(self, kind: str) -> None:
        self.kind = kind
        self._items: dict[str, T] = {}
        self._owners: dict[str, str] = {}
        self.clashes: list[str] = []
        """One line per name registered twice: which plugin kept it, which was ignored."""

    def register(self, name: str, item: T, *, owner: str = "?") -> bool:
        """Add ``item`` under ``name``; False (and a warning naming both plugins) if it is taken."""
        if not isinstance(name, str) or not name:
            raise ValueError(f"{self.kind} name must be a non-empty string, got {name!r}")
        if name in self._items:
            clash = (f"{self.kind} {name!r} registered twice: by {self._owners[name]} (kept) "
                     f"and by {owner} (ignored)")
            self.clashes.append(clash)
            logger.warning("%s", clash)
            return False
        self._items[name] = item
        self._owners[name] = owner
        return True

    def get(self, name: str) -> T:
        """The item registered under ``name``; UnknownNameError lists the known names."""
        try:
            return self._items[name]
        except KeyError:
            raise UnknownNameError(self.kind, name, list(self._items)) from None

    def owner(self, name: str) -> str:
        """Which plugin registered ``name``."""
        self.get(name)
        return self._owners[name]

    def names(self) -> list[str]:
        """Registered names, sorted."""
        return sorted(self._items)

    def __contains__(self, name: object) -> bool:
        return name in self._items

    def __iter__(self) -> Iterator[str]:
        return iter(self.names())

    def __len__(self) -> int:
        return len(self._items)
