"""Observers for every generation in the process, not just the ones you pass them to.

Two ways, both documented in docs/observability.md:

- ``LMSTREAM_OBSERVERS=log,jsonl`` (registered observer names): read once, when the observers
  plugin loads; the plugin then implements the global generation hooks for those observers.
- ``lmstream.register_plugin(ObserverPlugin(JsonlObserver(path)))``: any observer objects.

Either way a plugin implements ``lmstream_generation_event`` only if one of its observers
wants events, so observers that act at the end (stats, log, jsonl) cost nothing per token.
"""

from __future__ import annotations

import logging
import os
import threading
from collections.abc import Callable, Sequence
from typing import Any

import lmstream
from lmstream import Event, GenerationRecord, Info, Observer, Token

ENV = "LMSTREAM_OBSERVERS"
END_ONLY = frozenset({"stats", "log", "jsonl"})
"""Built-in observer names that need no per-event callback."""

logger = logging.getLogger("lmstream.observers")


def implements(observer: object, method: str) -> bool:
    """True when ``observer`` has a real ``method``, not the Observer base class's no-op."""
    impl = getattr(type(observer), method, None)
    if impl is None:
        return callable(getattr(observer, method, None))
    return impl is not getattr(Observer, method, None)


def _call_each(callbacks: Sequence[Callable[..., object]], what: str, *args: Any) -> None:
    """Call every callback; one that raises is logged and the others still run."""
    for callback in callbacks:
        try:
            callback(*args)
        except Exception:
            logger.exception("observer %r failed on %s; the stream goes on", callback, what)


class ObserverPlugin:
    """A plugin that runs observer objects for every generation (register it globally).

    ``ObserverPlugin(*observers)`` builds an EventObserverPlugin (which implements the event
    hook) only when one of the observers wants events.
    """

    def __new__(cls, *observers: object) -> ObserverPlugin:
        if cls is ObserverPlugin and any(implements(o, "on_event") for o in observers):
            cls = EventObserverPlugin
        return super().__new__(cls)

    def __init__(self, *observers: object) -> None:
        for observer in observers:
            if not any(hasattr(observer, m) for m in ("on_start", "on_event", "on_end")):
                raise TypeError(f"{observer!r} is not an observer: it has none of on_start/on_event/on_end")
        self._set(list(observers))

    def _set(self, observers: list[object]) -> None:
        self.observers = observers
        self._start = [o.on_start for o in observers if implements(o, "on_start")]  # type: ignore[attr-defined]
        self._event = [o.on_event for o in observers if implements(o, "on_event")]  # type: ignore[attr-defined]
        self._end = [o.on_end for o in observers if implements(o, "on_end")]  # type: ignore[attr-defined]

    def _ready(self) -> None:
        """Hook for subclasses that resolve their observers late."""

    @lmstream.hookimpl
    def lmstream_generation_start(self, generation: GenerationRecord) -> None:
        """Tell every observer a generation started."""
        self._ready()
        _call_each(self._start, "start", generation)

    @lmstream.hookimpl
    def lmstream_generation_end(self, generation: GenerationRecord, info: Info) -> None:
        """Tell every observer the generation ended."""
        self._ready()
        _call_each(self._end, "end", generation, info)

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.observers!r}>"


class EventObserverPlugin(ObserverPlugin):
    """An ObserverPlugin that also forwards every event."""

    @lmstream.hookimpl
    def lmstream_generation_event(self, generation: GenerationRecord, event: Event | Token) -> None:
        """Tell every event-observing observer about the event."""
        _call_each(self._event, "an event", generation, event)


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
