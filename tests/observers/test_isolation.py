"""A raising observer disturbs neither the stream nor the built-in observers beside it."""

from __future__ import annotations

import json
import logging

from prometheus_client import CollectorRegistry, generate_latest

import lmstream
from lmstream import Chunk, StopReason
from lmstream_observers import (
    JsonlObserver,
    LogObserver,
    ObserverPlugin,
    PrometheusObserver,
    StatsObserver,
)


def test_builtins_keep_working_beside_a_raising_observer(scripted, tmp_path, caplog, raising_observer):
    stats, path, registry = StatsObserver(), tmp_path / "g.jsonl", CollectorRegistry()
    observers = [raising_observer, stats, raising_observer, JsonlObserver(path), LogObserver(),
                 PrometheusObserver(registry), raising_observer]
    with caplog.at_level(logging.INFO):
        events = list(lmstream.generate("hi", context=scripted("one two three", cut="words"),
                                        observers=observers))
    assert "".join(e.text for e in events if isinstance(e, Chunk)) == "one two three"
    assert events[-1].stop_reason is StopReason.STOP
    assert stats.snapshot().generations == 1 and stats.last_info is events[-1]
    assert json.loads(path.read_text())["stop_reason"] == "stop"
    assert any(r.name == "lmstream.generation" for r in caplog.records)
    assert b'lmstream_generations_total{backend="scripted",model="scripted",stop_reason="stop"} 1.0' in \
        generate_latest(registry)
    assert "boom on event" in caplog.text and "boom at end" in caplog.text


def test_raising_observer_inside_a_global_plugin_is_isolated(scripted, plugin_system, caplog,
                                                            raising_observer):
    stats = StatsObserver()
    plugin = ObserverPlugin(raising_observer, stats)
    plugin_system.register(plugin, name="test-global")
    with caplog.at_level(logging.ERROR, logger="lmstream.observers"):
        result = scripted("abc").generate("hi")
    assert result.text == "abc"
    assert stats.snapshot().generations == 1
    assert "boom at start" in caplog.text and "boom on event" in caplog.text and "boom at end" in caplog.text
