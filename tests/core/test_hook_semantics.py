"""Observer and registration hooks behave as pluggy promises, with a raising observer isolated.

Each semantic (argument subsets, call order, tryfirst/trylast, new- and old-style wrappers,
firstresult) is checked with real plugins registered through the plugin manager, against
pluggy's own ``hook(...)`` call where pluggy defines the answer, and once through an installed
distribution's entry point.
"""

from __future__ import annotations

import importlib
import logging
import textwrap
from pathlib import Path
from typing import Any

import pluggy
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import lmstream
from lmstream.hooks import PluginSystem
from lmstream.hooks._hookcalling import IsolatedHook

hookimpl = lmstream.hookimpl


class EndOnly:
    """Takes a subset of the hook's arguments (``info`` only): valid pluggy."""

    def __init__(self) -> None:
        self.reasons: list[str] = []

    @hookimpl
    def lmstream_generation_end(self, info: lmstream.Info) -> None:
        self.reasons.append(info.stop_reason.value)


def _ordered(calls: list[str], label: str, **opts: bool) -> object:
    class Plugin:
        @hookimpl(**opts)
        def lmstream_generation_start(self, generation: Any) -> str:
            calls.append(label)
            return label

    return Plugin()


def test_argument_subset_observer_fires(plugin_system, scripted):
    plugin = EndOnly()
    plugin_system.register(plugin, name="end-only")
    scripted("hi").generate("x")
    assert plugin.reasons == ["stop"]


def test_reordered_arguments_are_passed_by_name(plugin_system, scripted):
    seen: list[tuple[str, str]] = []

    class Reordered:
        @hookimpl
        def lmstream_generation_end(self, info: Any, generation: Any) -> None:
            seen.append((type(info).__name__, type(generation).__name__))

    plugin_system.register(Reordered(), name="reordered")
    scripted("hi").generate("x")
    assert seen == [("Info", "GenerationRecord")]


def test_tryfirst_runs_first_and_trylast_last(plugin_system, scripted):
    calls: list[str] = []
    plugin_system.register(_ordered(calls, "first", tryfirst=True), name="first")
    plugin_system.register(_ordered(calls, "plain-a"), name="plain-a")
    plugin_system.register(_ordered(calls, "last", trylast=True), name="last")
    plugin_system.register(_ordered(calls, "plain-b"), name="plain-b")
    scripted("hi").generate("x")
    observed = list(calls)
    calls.clear()
    plugin_system.pm.hook.lmstream_generation_start(generation=None)
    assert observed == calls == ["first", "plain-b", "plain-a", "last"]


def test_new_style_wrapper_wraps_the_others(plugin_system, scripted):
    calls: list[str] = []

    class Wrapper:
        @hookimpl(wrapper=True)
        def lmstream_generation_start(self, generation: Any) -> Any:
            calls.append("before")
            result = yield
            calls.append(f"after {result}")
            return result

    plugin_system.register(_ordered(calls, "inner"), name="inner")
    plugin_system.register(Wrapper(), name="wrapper")
    scripted("hi").generate("x")
    assert calls == ["before", "inner", "after ['inner']"]


def test_old_style_hookwrapper_sees_a_result(plugin_system, scripted):
    outcomes: list[object] = []

    class OldWrapper:
        @hookimpl(hookwrapper=True)
        def lmstream_generation_end(self, generation: Any, info: Any) -> Any:
            outcome = yield
            outcomes.append(outcome.get_result())

    plugin_system.register(EndOnly(), name="end-only")
    plugin_system.register(OldWrapper(), name="old")
    scripted("hi").generate("x")
    assert outcomes == [[]]


def test_raising_observer_is_isolated_and_wrappers_see_the_survivors(plugin_system, scripted, caplog):
    calls: list[str] = []

    class Raising:
        @hookimpl(tryfirst=True)
        def lmstream_generation_start(self, generation: Any) -> None:
            raise RuntimeError("boom")

    class Wrapper:
        @hookimpl(wrapper=True)
        def lmstream_generation_start(self, generation: Any) -> Any:
            result = yield
            calls.append(f"wrapped {result}")
            return result

    class BrokenWrapper:
        @hookimpl(wrapper=True)
        def lmstream_generation_start(self, generation: Any) -> Any:
            raise RuntimeError("broken before yield")
            yield  # pragma: no cover

    plugin_system.register(Raising(), name="raising")
    plugin_system.register(_ordered(calls, "survivor"), name="survivor")
    plugin_system.register(Wrapper(), name="wrapper")
    plugin_system.register(BrokenWrapper(), name="broken")
    with caplog.at_level(logging.ERROR, logger="lmstream.observers"):
        assert scripted("hi").generate("x").text == "hi"
    assert calls == ["survivor", "wrapped ['survivor']"]
    assert "boom" in caplog.text and "broken before yield" in caplog.text


def test_event_hook_subset_and_no_cost_when_nobody_listens(plugin_system, scripted):
    from lmstream.hooks import GenerationRecord, ObserverSet

    record = GenerationRecord(model=lmstream.ModelInfo(name="m", backend="b"),
                              parameters=lmstream.GenerationParameters(), prompt_tokens=1)
    assert not ObserverSet(record, plugin_system, None).wants_events
    events: list[str] = []

    class EventsOnly:
        @hookimpl
        def lmstream_generation_event(self, event: Any) -> None:
            events.append(type(event).__name__)

    plugin_system.register(EventsOnly(), name="events-only")
    assert ObserverSet(record, plugin_system, None).wants_events
    scripted("hi").generate("x")
    assert events[-1] == "Info" and "Chunk" in events


def test_firstresult_resolver_honours_tryfirst(plugin_system):
    class Late:
        @hookimpl
        def lmstream_resolve_tool_parser(self, model: Any) -> str:
            return "late"

    class Early:
        @hookimpl(tryfirst=True)
        def lmstream_resolve_tool_parser(self, model: Any) -> str:
            return "early"

    plugin_system.register(Early(), name="early")
    plugin_system.register(Late(), name="late")
    assert plugin_system.resolve_tool_parser(lmstream.ModelInfo(name="m", backend="b")) == "early"


def test_registration_hook_with_argument_subset_and_wrapper(plugin_system):
    class NoArgs:
        @hookimpl
        def lmstream_register_backends(self) -> None:
            """Takes none of the arguments: pluggy calls it anyway."""

    class Wrapped:
        def __init__(self) -> None:
            self.wrapped = 0

        @hookimpl(wrapper=True)
        def lmstream_register_backends(self, register: Any) -> Any:
            self.wrapped += 1
            return (yield)

        @hookimpl(specname="lmstream_register_backends")
        def register_mine(self, register: Any) -> None:
            register("mine", lambda model=None: None)

    wrapped = Wrapped()
    plugin_system.register(NoArgs(), name="no-args")
    plugin_system.register(wrapped, name="wrapped")
    assert "mine" in plugin_system.backends
    assert plugin_system.backends.owner("mine") == "wrapped"
    assert wrapped.wrapped == 1


# -- equality with pluggy's own call, for any mix of plain/tryfirst/trylast/wrapper --------
KINDS = st.sampled_from(["plain", "tryfirst", "trylast", "wrapper", "hookwrapper"])


@settings(max_examples=60, deadline=None)
@given(st.lists(KINDS, min_size=0, max_size=7))
def test_isolated_hook_calls_like_pluggy(kinds):
    pm = pluggy.PluginManager("lmstream")
    from lmstream import hookspecs

    pm.add_hookspecs(hookspecs)
    calls: list[str] = []
    for index, kind in enumerate(kinds):
        pm.register(_plugin(kind, f"{kind}{index}", calls), name=f"p{index}")
    expected = pm.hook.lmstream_generation_start(generation="g")
    expected_calls = list(calls)
    calls.clear()
    got = IsolatedHook(pm.hook.lmstream_generation_start, ("generation",))("g")
    assert got == expected
    assert calls == expected_calls


def _plugin(kind: str, label: str, calls: list[str]) -> object:
    if kind == "wrapper":
        class NewWrapper:
            @hookimpl(wrapper=True)
            def lmstream_generation_start(self, generation: Any) -> Any:
                calls.append(f"{label} in")
                result = yield
                calls.append(f"{label} out")
                return [*result, label]
        return NewWrapper()
    if kind == "hookwrapper":
        class OldWrapper:
            @hookimpl(hookwrapper=True)
            def lmstream_generation_start(self, generation: Any) -> Any:
                calls.append(f"{label} in")
                outcome = yield
                calls.append(f"{label} out")
                outcome.force_result([*outcome.get_result(), label])
        return OldWrapper()
    opts = {"tryfirst": True} if kind == "tryfirst" else {"trylast": True} if kind == "trylast" else {}
    return _ordered(calls, label, **opts)


# -- through an installed distribution's entry point ---------------------------------------
PLUGIN_SOURCE = '''
import lmstream

ENDS = []
ORDER = []


class _First:
    @lmstream.hookimpl(tryfirst=True)
    def lmstream_generation_start(self):
        ORDER.append("first")


@lmstream.hookimpl
def lmstream_generation_start(generation):
    ORDER.append("plain")


@lmstream.hookimpl
def lmstream_generation_end(info):
    ENDS.append(info.stop_reason.value)


@lmstream.hookimpl
def lmstream_register_tool_parsers(register):
    register("json", lambda tools: None)
    register("semantics_parser", lambda tools: None)


first = _First()
'''


def _install(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A distribution installed on sys.path, as pip would leave it (dist-info + entry point)."""
    (tmp_path / "lmstream_semantics_example.py").write_text(textwrap.dedent(PLUGIN_SOURCE))
    info = tmp_path / "lmstream_semantics_example-1.0.dist-info"
    info.mkdir()
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: lmstream-semantics-example\nVersion: 1.0\n")
    (info / "entry_points.txt").write_text(
        "[lmstream]\nsemantics = lmstream_semantics_example\n"
        "semantics_first = lmstream_semantics_example:first\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    importlib.invalidate_caches()


def test_installed_entry_point_plugin_gets_pluggy_semantics(tmp_path, monkeypatch, caplog, scripted):
    _install(tmp_path, monkeypatch)
    system = PluginSystem()
    previous = lmstream.hooks.set_plugin_system(system)
    try:
        import lmstream_semantics_example as example

        described = {d.name: d.distribution for d in system.describe()}
        assert described["semantics"] == "lmstream-semantics-example 1.0"
        with caplog.at_level(logging.WARNING, logger="lmstream.hooks"):
            parsers = system.tool_parsers
        # the clash is a warning naming both plugins; the built-in keeps its name
        assert parsers.owner("json") == "toolcalls"
        assert parsers.owner("semantics_parser") == "semantics"
        assert "tool parser 'json' registered twice: by toolcalls (kept) and by semantics (ignored)" \
            in caplog.text
        assert system.clashes() == {"tool parser": [caplog.records[-1].getMessage()]}
        scripted("hi").generate("x")
        assert example.ENDS == ["stop"]
        assert example.ORDER == ["first", "plain"]
    finally:
        lmstream.hooks.set_plugin_system(previous)


def test_unhashable_plugin_objects_register_names(plugin_system):
    """pluggy accepts any object as a plugin (a SimpleNamespace of functions, say)."""
    from types import SimpleNamespace

    @hookimpl
    def lmstream_register_backends(register: Any) -> None:
        register("namespace-backend", lambda model=None: None)

    plugin_system.register(SimpleNamespace(lmstream_register_backends=lmstream_register_backends),
                           name="namespace")
    assert plugin_system.backends.owner("namespace-backend") == "namespace"
