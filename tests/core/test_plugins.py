"""The plugin system: entry points, registries, disabling, run-time registration, resolution."""

from __future__ import annotations

import importlib.metadata
import subprocess
import sys

import pytest

import lmstream
from lmstream.hooks import PluginSystem
from lmstream.hooks._registry import Registry

BUILT_IN = {"mlx", "scripted", "toolcalls", "templates", "observers"}


def test_built_in_plugins_are_registered_through_our_own_entry_points():
    eps = {ep.name: ep for ep in importlib.metadata.entry_points(group="lmstream")}
    assert BUILT_IN <= set(eps)
    assert all(eps[name].dist.name == "lmstream" for name in BUILT_IN)


def test_example_third_party_plugin_is_installed_and_works(plugin_system):
    eps = {ep.name: ep for ep in importlib.metadata.entry_points(group="lmstream")}
    assert "echo" in eps, "install the example plugin: pip install ./tests/plugins/echo_backend"
    assert eps["echo"].dist.name == "lmstream-echo-backend"
    described = {d.name: d for d in plugin_system.describe()}
    assert described["echo"].distribution == "lmstream-echo-backend 0.1.0"
    assert described["echo"].hooks == ["lmstream_register_backends"]
    with lmstream.load(backend="echo", shout=True) as context:
        assert context.generate("hello there").text == "HELLO THERE"


def test_disable_plugins_env_var_blocks_entry_points():
    code = (
        "import lmstream;"
        "s = lmstream.get_plugin_system();"
        "print(sorted(s.backends.names()));"
        "print(s.pm.get_plugin('scripted') is None and s.pm.is_blocked('scripted'))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                         env={**_env(), "LMSTREAM_DISABLE_PLUGINS": "scripted, echo"}).stdout.split("\n")
    assert "'scripted'" not in out[0] and "'echo'" not in out[0]
    assert out[1] == "True"
    with pytest.raises(lmstream.UnknownNameError):
        PluginSystem(disabled={"scripted"}).backends.get("scripted")


def _env() -> dict[str, str]:
    import os

    return dict(os.environ)


def test_disabled_name_refuses_run_time_registration():
    system = PluginSystem(load_entry_points=False, disabled={"mine"})
    assert system.register(object(), name="mine") is None


def test_run_time_registration_and_duplicate_names(plugin_system, caplog):
    class Twice:
        @lmstream.hookimpl
        def lmstream_register_backends(self, register):
            register("scripted", lambda model=None: None)

    plugin_system.register(Twice(), name="twice")
    # registered at run time, so called first (pluggy's order): it keeps the name, with a warning
    assert plugin_system.backends.owner("scripted") == "twice"
    assert plugin_system.clashes() == {"backend": [
        "backend 'scripted' registered twice: by twice (kept) and by scripted (ignored)"]}
    assert "registered twice" in caplog.text
    plugin_system.unregister(name="twice")
    assert plugin_system.backends.owner("scripted") == "scripted"
    assert plugin_system.clashes() == {}


def test_registration_hook_that_raises_is_not_fatal(plugin_system):
    class Broken:
        @lmstream.hookimpl
        def lmstream_register_backends(self, register):
            raise RuntimeError("cannot register")

    plugin_system.register(Broken(), name="broken")
    assert "scripted" in plugin_system.backends
    assert "cannot register" in plugin_system.load_errors["broken"]


def test_registry_unknown_and_duplicate():
    registry: Registry[int] = Registry("widget")
    assert registry.register("a", 1, owner="p1")
    assert not registry.register("a", 2, owner="p2")
    assert registry.get("a") == 1
    assert registry.clashes == ["widget 'a' registered twice: by p1 (kept) and by p2 (ignored)"]
    with pytest.raises(lmstream.UnknownNameError, match="unknown widget 'b'; known widgets: a"):
        registry.get("b")
    with pytest.raises(ValueError, match="non-empty string"):
        registry.register("", 3)
    assert registry.names() == ["a"] and "a" in registry and len(registry) == 1


def test_broken_plugin_is_reported_not_fatal(tmp_path, monkeypatch):
    dist = tmp_path / "broken_plugin-0.1.dist-info"
    dist.mkdir()
    (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: broken-plugin\nVersion: 0.1\n")
    (dist / "entry_points.txt").write_text("[lmstream]\nbroken = no_such_module_anywhere\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    system = PluginSystem()
    assert "broken" in system.load_errors and "ModuleNotFoundError" in system.load_errors["broken"]
    assert "scripted" in system.backends


def test_third_party_resolver_wins_over_built_in(plugin_system):
    class Resolver:
        @lmstream.hookimpl
        def lmstream_resolve_tool_parser(self, model):
            return "from-third-party"

    info = lmstream.ModelInfo(name="m", backend="scripted", tokenizer_config={"tool_parser_type": "json"})
    plugin_system.register(Resolver(), name="resolver")
    assert plugin_system.resolve_tool_parser(info) == "from-third-party"


def test_custom_tool_parser_plugin_runs_in_the_pipeline(plugin_system, scripted):
    class Upper:
        def __init__(self, tools):
            self.tools = tools

        def feed(self, text):
            return [lmstream.Chunk(text.upper())]

        def finish(self):
            return []

    class Plugin:
        @lmstream.hookimpl
        def lmstream_register_tool_parsers(self, register):
            register("upper", Upper)

    plugin_system.register(Plugin(), name="upper-plugin")
    result = scripted("quiet words").generate("hi", tool_parser="upper")
    assert result.text == "QUIET WORDS"
    assert isinstance(lmstream.get_tool_parser("upper"), Upper)
