"""The observers are registered by name through the entry point, and can be enabled globally."""

from __future__ import annotations

import importlib
import json
import logging
import os
import subprocess
import sys

import pytest

import lmstream
from lmstream.hooks import GenerationRecord, ObserverSet
from lmstream_observers import JsonlObserver, ObserverPlugin, StatsObserver
from lmstream_observers.global_plugin import (
    EventObserverPlugin,
    NamedEventObserverPlugin,
    NamedObserverPlugin,
    names_from_env,
    plugin_from_env,
)


def test_names_are_registered_by_the_observers_plugin(plugin_system):
    registry = plugin_system.observers
    assert {"stats", "log", "jsonl", "prometheus"} <= set(registry.names())
    assert all(registry.owner(name) == "observers" for name in ("stats", "log", "jsonl", "prometheus"))


def test_names_work_per_call(scripted, tmp_path, monkeypatch, caplog):
    monkeypatch.setenv("LMSTREAM_JSONL_PATH", str(tmp_path / "x.jsonl"))
    with caplog.at_level(logging.INFO, logger="lmstream.generation"):
        scripted("abc").generate("hi", observers=["log", "jsonl", "stats", "prometheus"])
    assert (tmp_path / "x.jsonl").exists()
    assert any(r.name == "lmstream.generation" for r in caplog.records)


def test_unknown_name_lists_the_known_ones(scripted):
    with pytest.raises(lmstream.UnknownNameError, match="jsonl, log, prometheus, stats"):
        scripted("abc").generate("hi", observers=["nope"])


def test_observer_plugin_registers_only_the_hooks_it_needs(scripted, plugin_system):
    end_only = ObserverPlugin(StatsObserver(), JsonlObserver("unused.jsonl"))
    assert type(end_only) is ObserverPlugin and not hasattr(end_only, "lmstream_generation_event")

    class Counting(lmstream.Observer):
        def on_event(self, generation, event):
            pass

    assert type(ObserverPlugin(Counting())) is EventObserverPlugin
    plugin_system.register(end_only, name="end-only")
    record = GenerationRecord(model=scripted("a").info, parameters=lmstream.GenerationParameters(),
                              prompt_tokens=1)
    assert not ObserverSet(record, plugin_system, None).wants_events


def test_observer_plugin_rejects_non_observers():
    with pytest.raises(TypeError, match="is not an observer"):
        ObserverPlugin(object())


def test_register_plugin_observes_every_generation(scripted, plugin_system, tmp_path):
    path = tmp_path / "all.jsonl"
    plugin_system.register(ObserverPlugin(JsonlObserver(path)), name="jsonl-everything")
    context = scripted("abc")
    context.generate("one")
    list(lmstream.generate_tokens("two", context=context))
    kinds = [json.loads(line)["kind"] for line in path.read_text().splitlines()]
    assert kinds == ["decoded", "tokens"]


def test_env_names_parse():
    assert names_from_env(" log, ,jsonl ") == ["log", "jsonl"]
    assert names_from_env("") == []
    assert plugin_from_env("") is None
    with pytest.raises(ValueError, match="log more than once"):
        names_from_env("log,log")
    assert type(plugin_from_env("log,stats")) is NamedObserverPlugin
    assert type(plugin_from_env("log,prometheus")) is NamedEventObserverPlugin


GLOBAL_HOOKS = ("lmstream_generation_start", "lmstream_generation_event", "lmstream_generation_end")


@pytest.fixture
def reload_plugin(monkeypatch):
    """Reload the observers plugin module under LMSTREAM_OBSERVERS=value; restored afterwards."""
    import lmstream_observers.plugin as module

    def reload(value: str):
        for name in GLOBAL_HOOKS:  # reload keeps old attributes: drop the previous hooks first
            if hasattr(module, name):
                delattr(module, name)
        monkeypatch.setenv("LMSTREAM_OBSERVERS", value)
        return importlib.reload(module)

    yield reload
    monkeypatch.delenv("LMSTREAM_OBSERVERS", raising=False)
    reload("")
    monkeypatch.delenv("LMSTREAM_OBSERVERS", raising=False)
    assert not any(hasattr(module, name) for name in GLOBAL_HOOKS)


def test_env_var_enables_observers_in_process(scripted, tmp_path, monkeypatch, reload_plugin):
    from lmstream.hooks import PluginSystem, set_plugin_system

    monkeypatch.setenv("LMSTREAM_JSONL_PATH", str(tmp_path / "env.jsonl"))
    module = reload_plugin("jsonl,stats")
    assert hasattr(module, "lmstream_generation_end")
    assert not hasattr(module, "lmstream_generation_event")  # end-only: no per-token cost
    old = set_plugin_system(PluginSystem())  # loads the entry points, now with the env hooks
    try:
        context = scripted("abc")
        context.generate("hi")
        context.generate("hi")
    finally:
        set_plugin_system(old)
    assert len((tmp_path / "env.jsonl").read_text().splitlines()) == 2


def test_env_var_with_an_event_observer_adds_the_event_hook(reload_plugin):
    assert hasattr(reload_plugin("stats,prometheus"), "lmstream_generation_event")


def test_env_var_with_an_unknown_name_is_logged_each_generation(scripted, caplog, reload_plugin):
    from lmstream.hooks import PluginSystem, set_plugin_system

    reload_plugin("log,nope")
    old = set_plugin_system(PluginSystem())
    try:
        with caplog.at_level(logging.ERROR, logger="lmstream.observers"):
            assert scripted("abc").generate("hi").text == "abc"
            assert scripted("abc").generate("hi").text == "abc"
    finally:
        set_plugin_system(old)
    assert caplog.text.count("unknown observer 'nope'") >= 2


def test_env_var_in_a_fresh_process(tmp_path):
    code = (
        "import logging, lmstream\n"
        "logging.basicConfig(level=logging.INFO, format='%(name)s|%(message)s')\n"
        "ctx = lmstream.load(backend='scripted', reply='hello there', cut='words')\n"
        "print(ctx.generate('hi').text)\n"
    )
    env = {**os.environ, "LMSTREAM_OBSERVERS": "log,jsonl", "LMSTREAM_JSONL_PATH": str(tmp_path / "p.jsonl")}
    done = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True,
                          timeout=60, check=True)
    assert done.stdout.strip() == "hello there"
    assert "lmstream.generation|generation=" in done.stderr
    (record,) = [json.loads(line) for line in (tmp_path / "p.jsonl").read_text().splitlines()]
    assert record["stop_reason"] == "stop"
