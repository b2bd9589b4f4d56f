"""Observers for every generation of this process, for APIs that take no ``observers=``.

``lmstream chat`` runs on ChatSession, whose turns take no per-call observers; the command
attaches its observers (the stats session, ``--observer`` names) through the global hooks.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any

from lmstream import ObserverPlugin, PluginSystem


@contextmanager
def attached(system: PluginSystem, observers: Sequence[Any]) -> Iterator[None]:
    """Observe every generation of ``system`` with ``observers`` inside the ``with`` block."""
    if not observers:
        yield
        return
    plugin = ObserverPlugin(*observers)
    system.register(plugin, name="lmstream-cli-observers")
    try:
        yield
    finally:
        system.unregister(plugin)
