"""Registers the built-in observers by name, and the global ones ``LMSTREAM_OBSERVERS`` names.

``observers=["stats", "log", "jsonl", "prometheus"]`` picks them per call. The global hooks
below exist only when ``LMSTREAM_OBSERVERS`` is set (read once, when this plugin loads).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import lmstream

from .global_plugin import EventObserverPlugin, plugin_from_env


def _stats() -> Any:
    from .session import default_session

    return default_session()


def _log() -> Any:
    from .log import LogObserver

    return LogObserver()


def _jsonl() -> Any:
    from .jsonl import JsonlObserver

    return JsonlObserver()


def _prometheus() -> Any:
    from .prometheus import PrometheusObserver

    return PrometheusObserver()


@lmstream.hookimpl
def lmstream_register_observers(register: Callable[[str, Callable[..., Any]], None]) -> None:
    """``stats`` (the process-wide session), ``log``, ``jsonl`` (``$LMSTREAM_JSONL_PATH``), ``prometheus``."""
    register("stats", _stats)
    register("log", _log)
    register("jsonl", _jsonl)
    register("prometheus", _prometheus)


_global = plugin_from_env()
if _global is not None:
    lmstream_generation_start = _global.lmstream_generation_start
    lmstream_generation_end = _global.lmstream_generation_end
    if isinstance(_global, EventObserverPlugin):
        lmstream_generation_event = _global.lmstream_generation_event
