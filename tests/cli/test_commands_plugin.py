"""The built-in commands are a plugin: registered through ``lmstream_register_commands`` by the
``commands`` entry point, like ``serve``; ``lmstream.cli`` only dispatches."""

from __future__ import annotations

import argparse
import builtins
import contextlib
import importlib.metadata
import io
import logging
from collections.abc import Iterator
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import lmstream
from lmstream.cli import BUILT_IN_COMMANDS, BUILT_IN_PLUGIN, build_parser, main
from lmstream.hooks import PluginSystem, set_plugin_system


@pytest.fixture
def without_built_ins() -> Iterator[PluginSystem]:
    """The process's plugin system with the ``commands`` plugin disabled, as
    ``LMSTREAM_DISABLE_PLUGINS=commands`` does."""
    system = PluginSystem(disabled={BUILT_IN_PLUGIN})
    old = set_plugin_system(system)
    try:
        yield system
    finally:
        set_plugin_system(old)


def test_the_built_ins_come_through_our_entry_point(plugin_system: PluginSystem) -> None:
    eps = {ep.name: ep for ep in importlib.metadata.entry_points(group="lmstream")}
    assert eps["commands"].value == "lmstream_commands.plugin" and eps["commands"].dist.name == "lmstream"
    for name in ("generate", "chat", "plugins", "bench"):
        assert plugin_system.commands.owner(name) == "commands"
        assert isinstance(plugin_system.commands.get(name), lmstream.plugin.Command)
    assert plugin_system.commands.owner("serve") == "server"


def test_help_lists_the_built_ins_first_then_the_others(plugin_system: PluginSystem) -> None:
    subparsers = next(a for a in build_parser()._actions if isinstance(a, argparse._SubParsersAction))
    names = list(subparsers.choices)
    assert names[:4] == list(BUILT_IN_COMMANDS) == ["generate", "chat", "plugins", "bench"]
    assert names[4:] == sorted(names[4:]) and "serve" in names[4:]


def test_disabled_built_ins_say_so_without_a_traceback(run_cli) -> None:
    env = {"LMSTREAM_DISABLE_PLUGINS": "commands"}
    for command in ("generate", "chat", "plugins", "bench"):
        done = run_cli("-v", command, "hi", env=env)
        assert done.returncode == 2, done.stderr
        assert "Traceback" not in done.stderr
        assert done.stderr.strip().splitlines()[-1] == (
            f"lmstream: error: {command!r} is a built-in command and is unavailable: "
            "LMSTREAM_DISABLE_PLUGINS disables the 'commands' plugin that provides them")
    done = run_cli("--help", env=env)
    assert done.returncode == 0
    assert "built-in commands (generate, chat, plugins, bench) are unavailable" in " ".join(done.stdout.split())
    assert run_cli("frobnicate", env=env).returncode == 2  # an unknown name stays argparse's error


def test_a_plugin_that_failed_to_load_is_named(without_built_ins: PluginSystem, capsys: Any) -> None:
    without_built_ins.disabled.clear()
    without_built_ins.load_errors["commands"] = "ImportError: boom"
    assert main(["generate", "hi"]) == 2
    assert "the 'commands' plugin that provides them failed to load (ImportError: boom)" in capsys.readouterr().err


def test_a_plugin_cannot_take_a_built_in_name(plugin_system: PluginSystem, caplog: Any, capsys: Any) -> None:
    class Shadow:
        @lmstream.hookimpl(tryfirst=True)
        def lmstream_register_commands(self, register: Any) -> None:
            register("generate", lmstream.plugin.Command(help="shadow", configure=lambda p: None, run=lambda a: 3))

    plugin_system.register(Shadow(), name="shadow")
    with caplog.at_level(logging.WARNING):
        code = main(["generate", "hi", "--backend", "scripted", "-o", 'reply="built in"'])
    assert code == 0 and capsys.readouterr().out == "built in\n"
    assert "plugin shadow registered command 'generate', a built-in command; ignored" in caplog.text


def test_with_the_built_ins_disabled_a_plugin_may_provide_generate(
        without_built_ins: PluginSystem, capsys: Any) -> None:
    class Replacement:
        @lmstream.hookimpl
        def lmstream_register_commands(self, register: Any) -> None:
            def configure(parser: argparse.ArgumentParser) -> None:
                parser.add_argument("prompt")

            def run(args: argparse.Namespace) -> int:
                print(f"mine: {args.prompt}")
                return 0

            register("generate", lmstream.plugin.Command(help="my generate", configure=configure, run=run))

    without_built_ins.register(Replacement(), name="replacement")
    assert main(["generate", "hi"]) == 0
    assert capsys.readouterr().out == "mine: hi\n"


class LoadSpy:
    """Stands in for ``lmstream.load`` in the built-in commands: records the call, loads scripted."""

    def __init__(self) -> None:
        self.calls: list[tuple[tuple[Any, ...], dict[str, Any]]] = []

    def __call__(self, *args: Any, **options: Any) -> lmstream.ModelContext:
        self.calls.append((args, dict(options)))
        options.pop("drafter", None)
        for key in [k for k in options if k.startswith("draft_")]:
            del options[key]
        return lmstream.load(None, "scripted", reply="ok", model_chat_template=None)


@pytest.fixture
def load_spy(monkeypatch: pytest.MonkeyPatch) -> LoadSpy:
    import lmstream_commands.loading

    spy = LoadSpy()
    monkeypatch.setattr(lmstream_commands.loading, "load", spy)
    return spy


@pytest.mark.parametrize("argv", [["generate", "hi"], ["chat"],
                                  ["bench", "--runs", "1", "--warmup", "0", "--prompt-tokens", "4",
                                   "--max-tokens", "2"]])
def test_draft_passes_the_drafter_to_load(argv: list[str], load_spy: LoadSpy, monkeypatch: Any,
                                          capsys: Any) -> None:
    def end_of_input(prompt: str = "") -> str:
        raise EOFError

    monkeypatch.setattr(builtins, "input", end_of_input)  # chat: Ctrl-D at the first prompt
    assert main([*argv, "--draft", "draft_model", "-o", "draft_model=small.gguf",
                 "-o", "draft_max_tokens=4"]) == 0, capsys.readouterr().err
    assert load_spy.calls == [((None, None), {"drafter": "draft_model", "draft_model": "small.gguf",
                                              "draft_max_tokens": 4})]


def test_without_draft_no_drafter_is_asked_for(load_spy: LoadSpy, capsys: Any) -> None:
    assert main(["generate", "hi", "--backend", "scripted"]) == 0
    assert load_spy.calls == [((None, "scripted"), {})]


def test_draft_and_option_drafter_together_are_a_usage_error(load_spy: LoadSpy, capsys: Any) -> None:
    assert main(["generate", "hi", "--draft", "prompt_lookup", "-o", "drafter=prompt_lookup"]) == 2
    assert "give the drafter with --draft or --option drafter, not both" in capsys.readouterr().err
    assert load_spy.calls == []


def test_draft_is_in_every_model_commands_help(capsys: Any) -> None:
    for command in ("generate", "chat", "bench"):
        assert main([command, "--help"]) == 0
        assert "--draft NAME" in capsys.readouterr().out


def test_a_command_needs_text_help_and_callables() -> None:
    with pytest.raises(TypeError, match="help must be a string"):
        lmstream.plugin.Command(help=None, configure=lambda p: None, run=lambda a: 0)  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="callables"):
        lmstream.plugin.Command(help="x", configure=lambda p: None, run=0)  # type: ignore[arg-type]


WORDS = st.sampled_from(["generate", "chat", "plugins", "bench", "frobnicate", "-v", "-vv", "--verbose",
                         "--", "-", "--backend", "scripted", "--draft", "x", "-o", "a=1", "--help",
                         "--version", ""])


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(argv=st.lists(st.one_of(WORDS, st.text(max_size=6)), max_size=5))
def test_without_the_commands_plugin_any_argv_is_a_clean_exit(argv: list[str]) -> None:
    """No plugin at all: every argument list ends in 0 (help, version) or 2 with one error line,
    never a traceback; a built-in name named first says the plugin is not installed."""
    previous = set_plugin_system(PluginSystem(load_entry_points=False))
    out, err = io.StringIO(), io.StringIO()
    try:
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            try:
                code = main(argv)
            except SystemExit as exit_:  # never: main returns its exit code
                pytest.fail(f"main raised SystemExit({exit_.code}) for {argv!r}")
    finally:
        set_plugin_system(previous)
    assert code in (0, 2), (argv, code, err.getvalue())
    assert "Traceback" not in err.getvalue()
    first = next((word for word in argv if word != "--" and not word.startswith("-")), None)
    if first in BUILT_IN_COMMANDS and not {"--help", "-h", "--version"} & set(argv[:argv.index(first)]):
        assert code == 2 and "the 'commands' plugin that provides them is not installed" in err.getvalue()


def test_a_command_whose_configure_raises_is_skipped_with_a_warning(
        plugin_system: PluginSystem, caplog: Any, capsys: Any) -> None:
    def configure(parser: argparse.ArgumentParser) -> None:
        raise RuntimeError("no arguments today")

    class Broken:
        @lmstream.hookimpl
        def lmstream_register_commands(self, register: Any) -> None:
            register("broken", lmstream.plugin.Command(help="broken", configure=configure, run=lambda a: 0))

    plugin_system.register(Broken(), name="broken-plugin")
    with caplog.at_level(logging.WARNING):
        assert main(["broken"]) == 2
        assert main(["plugins"]) == 0  # the others still work
    assert "command 'broken' (plugin broken-plugin) failed to configure: no arguments today" in caplog.text
    assert "lmstream: error: the command 'broken' is unavailable: its plugin failed to configure it" in (
        capsys.readouterr().err)
