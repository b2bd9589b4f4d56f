"""lmstream's built-in observers: session stats, the [STATS] block, logging, JSON lines, Prometheus.

Per call: ``lmstream.generate(..., observers=["stats", "log"])`` or observer objects.
Globally: ``LMSTREAM_OBSERVERS=log,jsonl`` or ``lmstream.register_plugin(ObserverPlugin(obs))``.
"""

from __future__ import annotations

from .formatting import format_session_summary, format_stats_block
from .global_plugin import ObserverPlugin
from .jsonl import JsonlObserver
from .log import LogObserver
from .prometheus import PrometheusObserver
from .session import StatsObserver, default_session
from .session_stats import SessionStats

__all__ = [
    "JsonlObserver",
    "LogObserver",
    "ObserverPlugin",
    "PrometheusObserver",
    "SessionStats",
    "StatsObserver",
    "default_session",
    "format_session_summary",
    "format_stats_block",
]
