"""The observer-to-hook adapter (``ObserverPlugin``): observer objects run for every generation,
through the global ``lmstream_generation_*`` hooks.

The one adapter from per-call observer objects (``on_start/on_event/on_end``) to the
``lmstream_generation_*`` hooks: ``lmstream.register_plugin(ObserverPlugin(obs))``, the
observers plugin's ``LMSTREAM_OBSERVERS`` and the CLI's chat observers all use it. It
implements ``lmstream_generation_event`` only when an observer wants events, so observers that
act at the end cost nothing per token. A raising observer is logged; the others go on.
"""

from __future__ import annotations

from ..protocol import Event, Info, Token
from ._hookspecs import hookimpl
from ._observer_contract import GenerationRecord, implements
from ._observer_dispatch import bound_methods, call_each


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
        """Flatten the observers' real callbacks once (the hooks only iterate lists)."""
        self.observers = observers
        self._start = bound_methods(observers, "on_start")
        self._event = bound_methods(observers, "on_event")
        self._end = bound_methods(observers, "on_end")

    def _ready(self) -> None:
        """Hook for subclasses that resolve their observers late (before the first call)."""

    @hookimpl
    def lmstream_generation_start(self, generation: GenerationRecord) -> None:
        """Tell every observer a generation started."""
        self._ready()
        call_each(self._start, "start", generation)

    @hookimpl
    def lmstream_generation_end(self, generation: GenerationRecord, info: Info) -> None:
        """Tell every observer the generation ended."""
        self._ready()
        call_each(self._end, "end", generation, info)

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.observers!r}>"


class EventObserverPlugin(ObserverPlugin):
    """An ObserverPlugin that also forwards every event."""

    @hookimpl
    def lmstream_generation_event(self, generation: GenerationRecord, event: Event | Token) -> None:
        """Tell every event-observing observer about the event."""
        call_each(self._event, "an event", generation, event)
