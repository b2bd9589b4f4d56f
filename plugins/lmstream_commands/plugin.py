"""The ``commands`` plugin: registers ``generate``, ``chat``, ``plugins`` and ``bench``.

``configure`` runs for every ``lmstream`` call (argparse needs every subparser), so only the
argument definitions are imported here; a command's module is imported when it runs.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Callable

from lmstream import hookimpl
from lmstream.plugin import Command

from .arguments import configure_bench, configure_chat, configure_generate


def _runner(name: str) -> Callable[[argparse.Namespace], int]:
    """``run(args)`` for the command ``name``: imports ``<name>_command`` and calls its
    ``run_<name>(args, console)`` with a console on this process's stdout and stderr."""

    def run(args: argparse.Namespace) -> int:
        from .console import Console

        module = importlib.import_module(f"{__package__}.{name}_command")
        command: Callable[[argparse.Namespace, Console], int] = getattr(module, f"run_{name}")
        return command(args, Console(sys.stdout, sys.stderr))

    run.__qualname__ = f"run_{name}"
    return run


def _no_arguments(parser: argparse.ArgumentParser) -> None:
    """``lmstream plugins`` takes no arguments."""


GENERATE = Command(
    help="stream an answer to a prompt",
    description="Stream the answer to PROMPT to stdout as it is produced.",
    configure=configure_generate, run=_runner("generate"))
CHAT = Command(
    help="interactive chat (/clear, /stats, /exit)",
    description="An interactive chat. Commands: /clear, /stats, /exit. "
                "Ctrl-C cancels the answer in progress; Ctrl-D exits.",
    configure=configure_chat, run=_runner("chat"))
PLUGINS = Command(
    help="list plugins, their hooks, registered names and load errors",
    description="List every plugin, its distribution, the hooks it implements, "
                "the names it registered and plugins that failed to load.",
    configure=_no_arguments, run=_runner("plugins"))
BENCH = Command(
    help="measure prefill / decode tok/s and TTFT",
    description="Run a few short generations and print prefill and decode "
                "tokens per second and time to first token.",
    configure=configure_bench, run=_runner("bench"))

COMMANDS = {"generate": GENERATE, "chat": CHAT, "plugins": PLUGINS, "bench": BENCH}
"""What this plugin registers, in ``lmstream --help`` order."""


@hookimpl(tryfirst=True)  # type: ignore[untyped-decorator]
def lmstream_register_commands(register: Callable[[str, Command], None]) -> None:
    """Register the four built-in commands; ``tryfirst`` so their names stay theirs even when
    another plugin registers the same name (that one is logged and ignored)."""
    for name, command in COMMANDS.items():
        register(name, command)
