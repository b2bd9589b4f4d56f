"""Observers: global hook implementations and per-call observer objects, isolated from the stream.

An observer that raises is logged and skipped; the stream and the other observers go on.
When nobody listens, the pipeline builds no callback list and pays nothing per token.
"""

from __future__ import annotations

import itertools
import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from .backend import ModelInfo
from .events import Event, Info, Token
from .parameters import GenerationParameters

if TYPE_CHECKING:
    from .plugins import PluginSystem

logger = logging.getLogger("lmstream.observers")
_ids = itertools.count(1)


@dataclass
class GenerationRecord:
    """What observers are told about a generation; ``extra`` is theirs to annotate."""

    model: ModelInfo
    parameters: GenerationParameters
    prompt_tokens: int
    kind: str = "decoded"
    """``"decoded"`` (Chunk/ToolCall events) or ``"tokens"`` (Token events)."""
    id: int = field(default_factory=lambda: next(_ids))
    started_at: float = field(default_factory=time.time)
    extra: dict[str, Any] = field(default_factory=dict)


class Observer:
    """Base class for per-call observers; override any of the three methods."""

    def on_start(self, generation: GenerationRecord) -> None:
        """A generation started."""

    def on_event(self, generation: GenerationRecord, event: Event | Token) -> None:
        """An event is about to be delivered to the consumer."""

    def on_end(self, generation: GenerationRecord, info: Info) -> None:
        """The generation ended with ``info``."""


def _implements(observer: object, method: str) -> bool:
    """True when ``observer`` has a real ``method`` (not Observer's no-op default)."""
    impl = getattr(type(observer), method, None)
    if impl is None:
        return callable(getattr(observer, method, None))
    return impl is not getattr(Observer, method, None)


class ObserverSet:
    """The callbacks of one generation, flattened once so the hot loop only iterates lists.

    Hook implementations are called with keywords (pluggy's convention), per-call observer
    methods positionally; each call is isolated.
    """

    __slots__ = ("end", "event", "hook_end", "hook_event", "hook_start", "record", "start")

    def __init__(self, record: GenerationRecord, system: PluginSystem,
                 observers: Sequence[object] | None) -> None:
        self.record = record
        hook = system.pm.hook
        self.hook_start = [i.function for i in hook.lmstream_generation_start.get_hookimpls()]
        self.hook_event = [i.function for i in hook.lmstream_generation_event.get_hookimpls()]
        self.hook_end = [i.function for i in hook.lmstream_generation_end.get_hookimpls()]
        objects = resolve_observers(observers, system)
        self.start = [o.on_start for o in objects if _implements(o, "on_start")]  # type: ignore[attr-defined]
        self.event = [o.on_event for o in objects if _implements(o, "on_event")]  # type: ignore[attr-defined]
        self.end = [o.on_end for o in objects if _implements(o, "on_end")]  # type: ignore[attr-defined]

    @property
    def wants_events(self) -> bool:
        """Whether anybody listens to per-event callbacks (else the hot loop skips them)."""
        return bool(self.hook_event or self.event)

    def notify_start(self) -> None:
        """Call every start callback, isolating failures."""
        record = self.record
        for function in self.hook_start:
            _guard(function, "start", generation=record)
        for method in self.start:
            _guard(method, "start", record)

    def notify_event(self, event: Event | Token) -> None:
        """Call every event callback, isolating failures."""
        record = self.record
        for function in self.hook_event:
            try:
                function(generation=record, event=event)
            except Exception:
                logger.exception("observer %r failed on an event; the stream goes on", function)
        for method in self.event:
            try:
                method(record, event)
            except Exception:
                logger.exception("observer %r failed on an event; the stream goes on", method)

    def notify_end(self, info: Info) -> None:
        """Call every end callback, isolating failures."""
        record = self.record
        for function in self.hook_end:
            _guard(function, "end", generation=record, info=info)
        for method in self.end:
            _guard(method, "end", record, info)


def _guard(callback: Callable[..., object], what: str, *args: Any, **kwargs: Any) -> None:
    try:
        callback(*args, **kwargs)
    except Exception:
        logger.exception("observer %r failed on %s; the stream goes on", callback, what)


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
