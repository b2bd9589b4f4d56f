"""``lmstream_register_commands``: plugins add subcommands; ``serve`` is one, registered like any other."""

from __future__ import annotations

import argparse
import importlib.metadata
import logging
from typing import Any

import pytest

import lmstream
from lmstream.cli import main
from lmstream.hooks import Command


class HelloPlugin:
    """A third-party plugin adding ``lmstream hello --name N``."""

    def __init__(self) -> None:
        self.ran: list[str] = []

    @lmstream.hookimpl
    def lmstream_register_commands(self, register: Any) -> None:
        def configure(parser: argparse.ArgumentParser) -> None:
            parser.add_argument("--name", required=True)

        def run(args: argparse.Namespace) -> int:
            self.ran.append(args.name)
            return 7

        register("hello", Command(help="say hello", configure=configure, run=run))


def test_serve_is_registered_through_our_entry_point(plugin_system: Any) -> None:
    eps = {ep.name: ep for ep in importlib.metadata.entry_points(group="lmstream")}
    assert eps["server"].value == "lmstream_server.plugin" and eps["server"].dist.name == "lmstream"
    assert "serve" in plugin_system.commands
    assert plugin_system.commands.owner("serve") == "server"


def test_a_plugin_command_is_parsed_and_run(plugin_system: Any, capsys: Any) -> None:
    plugin = HelloPlugin()
    plugin_system.register(plugin, name="hello-plugin")
    assert main(["hello", "--name", "Ada"]) == 7
    assert plugin.ran == ["Ada"]
    assert main(["hello"]) == 2  # argparse: --name is required
    assert "hello" in capsys.readouterr().err


def test_duplicate_or_clashing_commands_warn_and_never_break_others(plugin_system: Any, caplog: Any) -> None:
    class Clash:
        @lmstream.hookimpl
        def lmstream_register_commands(self, register: Any) -> None:
            register("serve", Command(help="another serve", configure=lambda p: None, run=lambda a: 3))
            register("generate", Command(help="shadow", configure=lambda p: None, run=lambda a: 3))

    plugin_system.register(Clash(), name="clash")
    with caplog.at_level(logging.WARNING):
        assert main(["plugins"]) == 0
        assert main(["serve", "--help"]) == 0
    assert "registered twice" in caplog.text and "built-in command" in caplog.text
    assert plugin_system.commands.owner("serve") in ("server", "clash")


def test_command_refuses_non_callables() -> None:
    with pytest.raises(TypeError):
        Command(help="x", configure="nope", run=lambda a: 0)  # type: ignore[arg-type]


def test_serve_help_lists_every_option(capsys: Any) -> None:
    assert main(["serve", "--help"]) == 0
    out = capsys.readouterr().out
    for flag in ("--model", "--backend", "--option", "--served-model-name", "--host", "--port", "--api-key",
                 "--tool-parser", "--template", "--max-batch-size", "--max-queue", "--cors-origin"):
        assert flag in out
    assert "127.0.0.1" in out


def test_serve_rejects_a_bad_load_option() -> None:
    assert main(["serve", "--backend", "scripted", "-o", "no_such_option=1", "--port", "1"]) == 2


def test_max_batch_size_goes_to_the_core_scheduler() -> None:
    from lmstream_server import command

    parser = argparse.ArgumentParser()
    command.configure(parser)
    args = parser.parse_args(["--max-batch-size", "4", "--tool-parser", "json"])
    assert command.load_options(args) == {"tool_parser": "json", "max_batch_size": 4}
    context = lmstream.load(backend="scripted", **command.load_options(args))
    try:
        assert context.scheduler.max_batch_size == 4
    finally:
        context.close()
