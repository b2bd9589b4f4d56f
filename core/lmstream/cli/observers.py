"""Observers for every generation of this process, for APIs that take no ``observers=``.

``lmstream chat`` runs on ChatSession, whose turns take no per-call observers; the command
attaches its observers (the stats session, ``--observer`` names) through the global hooks.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any

from ..events import Event, Info, Token
from ..hookspecs import hookimpl
from ..observing import GenerationRecord
from ..plugins import PluginSystem

logger = logging.getLogger("lmstream.cli")


def _each(observers: Sequence[Any], method: str, *args: Any) -> None:
    for observer in observers:
        callback = getattr(observer, method, None)
        if callback is None:
            continue
        try:
            callback(*args)
        except Exception:
            logger.exception("observer %r failed in %s; the stream goes on", observer, method)


class ProcessObservers:
    """A plugin object forwarding the global generation hooks to observer objects."""

    def __init__(self, observers: Sequence[Any]) -> None:
        self.observers = list(observers)

    @hookimpl
    def lmstream_generation_start(self, generation: GenerationRecord) -> None:
        """Forward to ``on_start``."""
        _each(self.observers, "on_start", generation)

    @hookimpl
    def lmstream_generation_event(self, generation: GenerationRecord, event: Event | Token) -> None:
        """Forward to ``on_event``."""
        _each(self.observers, "on_event", generation, event)

    @hookimpl
    def lmstream_generation_end(self, generation: GenerationRecord, info: Info) -> None:
        """Forward to ``on_end``."""
        _each(self.observers, "on_end", generation, info)


@contextmanager
def attached(system: PluginSystem, observers: Sequence[Any]) -> Iterator[None]:
    """Observe every generation of ``system`` with ``observers`` inside the ``with`` block."""
    if not observers:
        yield
        return
    plugin = ProcessObservers(observers)
    system.register(plugin, name="lmstream-cli-observers")
    try:
        yield
    finally:
        system.unregister(plugin)
