"""Observer dispatch: one generation's ``ObserverSet`` calls the global hook implementations and
the per-call observer objects, each isolated from the stream.

An observer that raises is logged and skipped; the stream and the other observers go on.
When nobody listens, the pipeline builds no callback list and pays nothing per token.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

from ..protocol import Event, Info, Token
from ._hookcalling import IsolatedHook
from ._observer_contract import GenerationRecord, implements

if TYPE_CHECKING:
    from ._system import PluginSystem

logger = logging.getLogger("lmstream.observers")


def bound_methods(observers: Sequence[object], method: str) -> list[Callable[..., object]]:
    """The ``method`` of every observer that really implements it (what the hot loop calls)."""
    return [getattr(o, method) for o in observers if implements(o, method)]


def call_each(callbacks: Sequence[Callable[..., object]], what: str, *args: Any) -> None:
    """Call every callback; one that raises an Exception is logged and the others still run."""
    for callback in callbacks:
        try:
            callback(*args)
        except Exception:
            logger.exception("observer %r failed on %s; the stream goes on", callback, what)


class ObserverSet:
    """The callbacks of one generation, flattened once so the hot loop only iterates lists.

    Hook implementations are called with pluggy's semantics (order, argument subsets,
    wrappers: see hookcalling), per-call observer methods positionally; each call is isolated.
    """

    __slots__ = ("end", "event", "hook_end", "hook_event", "hook_start", "record", "start",
                 "wants_events")

    def __init__(self, record: GenerationRecord, system: PluginSystem,
                 observers: Sequence[object] | None) -> None:
        self.record = record
        hook = system.pm.hook
        self.hook_start = IsolatedHook(hook.lmstream_generation_start, ("generation",))
        self.hook_event = IsolatedHook(hook.lmstream_generation_event, ("generation", "event"))
        self.hook_end = IsolatedHook(hook.lmstream_generation_end, ("generation", "info"))
        objects = resolve_observers(observers, system)
        self.start = bound_methods(objects, "on_start")
        self.event = bound_methods(objects, "on_event")
        self.end = bound_methods(objects, "on_end")
        self.wants_events = bool(self.hook_event or self.event)
        """Whether anybody listens to per-event callbacks (else the hot loop skips them)."""

    def notify_start(self) -> None:
        """Call every start callback, isolating failures."""
        self.hook_start(self.record)
        call_each(self.start, "start", self.record)

    def notify_event(self, event: Event | Token) -> None:
        """Call every event callback, isolating failures."""
        record = self.record
        hook = self.hook_event
        if hook.wrappers:
            hook(record, event)
        else:
            for function in hook.calls:
                try:
                    function(record, event)
                except Exception:
                    logger.exception("observer %r failed on an event; the stream goes on", function)
        for method in self.event:
            try:
                method(record, event)
            except Exception:
                logger.exception("observer %r failed on an event; the stream goes on", method)

    def notify_end(self, info: Info) -> None:
        """Call every end callback, isolating failures."""
        self.hook_end(self.record, info)
        call_each(self.end, "end", self.record, info)


def resolve_observers(observers: Sequence[object] | None, system: PluginSystem) -> list[object]:
    """Turn per-call observers (objects or registered names) into observer objects."""
    if not observers:
        return []
    if isinstance(observers, str | bytes) or not isinstance(observers, Sequence):
        raise TypeError("observers must be a list of observer objects or registered observer names")
    resolved: list[object] = []
    for item in observers:
        if isinstance(item, str):
            resolved.append(system.observers.get(item)())
        elif any(hasattr(item, m) for m in ("on_start", "on_event", "on_end")):
            resolved.append(item)
        else:
            raise TypeError(f"{item!r} is not an observer: it has none of on_start/on_event/on_end")
    return resolved
