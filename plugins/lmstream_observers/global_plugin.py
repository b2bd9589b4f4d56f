"""Observers for every generation in the process, not just the ones you pass them to.

Two ways, both documented in docs/observability.md:

- ``LMSTREAM_OBSERVERS=log,jsonl`` (registered observer names): read once, when the observers
  plugin loads; the plugin then implements the global generation hooks for those observers.
- ``lmstream.register_plugin(ObserverPlugin(JsonlObserver(path)))``: any observer objects.

Both use lmstream.ObserverPlugin, the core's one adapter: a plugin implements
``lmstream_generation_event`` only if one of its observers wants events, so observers that act
at the end (stats, log, jsonl) cost nothing per token.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Sequence

import lmstream
from lmstream import ObserverPlugin
from lmstream.plugin import EventObserverPlugin

__all__ = ["EventObserverPlugin", "NamedEventObserverPlugin", "NamedObserverPlugin", "ObserverPlugin",
           "names_from_env", "plugin_from_env"]

ENV = "LMSTREAM_OBSERVERS"
END_ONLY = frozenset({"stats", "log", "jsonl"})
"""Built-in observer names that need no per-event callback."""


class NamedObserverPlugin(ObserverPlugin):
    """Observers given by registered name, resolved at the first generation (plugins are loaded by then)."""

    def __new__(cls, names: Sequence[str]) -> NamedObserverPlugin:
        if cls is NamedObserverPlugin and any(name not in END_ONLY for name in names):
            cls = NamedEventObserverPlugin
        return object.__new__(cls)

    def __init__(self, names: Sequence[str]) -> None:
        self.names = list(names)
        self._resolved = False
        self._error: Exception | None = None
        self._lock = threading.Lock()
        self._set([])

    def _ready(self) -> None:
        if self._resolved:
            if self._error is not None:
                raise self._error
            return
        with self._lock:
            if not self._resolved:
                try:
                    registry = lmstream.get_plugin_system().observers
                    self._set([registry.get(name)() for name in self.names])
                except Exception as exc:
                    self._error = exc
                self._resolved = True
        if self._error is not None:
            raise self._error

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {ENV}={','.join(self.names)}>"


class NamedEventObserverPlugin(NamedObserverPlugin, EventObserverPlugin):
    """A NamedObserverPlugin whose observers may want events (a name other than stats/log/jsonl)."""


def names_from_env(value: str | None = None) -> list[str]:
    """The observer names in ``LMSTREAM_OBSERVERS`` (comma separated; blanks ignored)."""
    raw = os.environ.get(ENV, "") if value is None else value
    names = [part.strip() for part in raw.split(",") if part.strip()]
    duplicates = sorted({n for n in names if names.count(n) > 1})
    if duplicates:
        raise ValueError(f"{ENV} names {', '.join(duplicates)} more than once")
    return names


def plugin_from_env(value: str | None = None) -> NamedObserverPlugin | None:
    """The plugin for ``LMSTREAM_OBSERVERS``, or None when it names no observer."""
    names = names_from_env(value)
    return NamedObserverPlugin(names) if names else None
