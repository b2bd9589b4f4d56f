"""The commands of the ``lmstream`` command line, every one registered by a plugin.

A plugin implements ``lmstream_register_commands(register)`` and calls
``register(name, Command(help=..., configure=..., run=...))``: lmstream's own ``commands``
plugin registers ``generate``, ``chat``, ``plugins`` and ``bench`` this way, the ``server``
plugin ``serve``. The dispatcher (``lmstream.cli``) builds one argparse subparser per
registered command, lets ``configure`` add its arguments, and calls ``run`` with the parsed
namespace; what ``run`` returns is the exit code, and its exceptions map to exit codes the same
way for every command (``lmstream.cli``).
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Command:
    """One ``lmstream NAME`` command as a plugin registers it: its help, how it adds its
    arguments, and what it runs (``lmstream.plugin.Command``; the name is given to ``register``)."""

    help: str
    """One line shown in ``lmstream --help``."""
    configure: Callable[[argparse.ArgumentParser], None]
    """Adds the command's arguments to its subparser (keep imports here light)."""
    run: Callable[[argparse.Namespace], int]
    """Runs the command with the parsed arguments; returns the exit code."""
    description: str | None = None
    """The longer text of ``lmstream NAME --help`` (default: ``help``)."""

    def __post_init__(self) -> None:
        if not callable(self.configure) or not callable(self.run):
            raise TypeError("Command.configure and Command.run must be callables")
        if not isinstance(self.help, str):
            raise TypeError(f"Command.help must be a string, got {type(self.help).__name__}")


def parse_option(text: str) -> tuple[str, Any]:
    """``KEY=VALUE`` to ``(key, value)``; the value is parsed as JSON when it is valid JSON.

    ``token_delay=0.05`` gives a float, ``repeat=true`` a bool, ``reply='"hi"'`` or ``reply=hi``
    the string ``"hi"``, ``reply='["a", "b"]'`` a list.
    """
    key, sep, raw = text.partition("=")
    key = key.strip()
    if not sep or not key:
        raise argparse.ArgumentTypeError(f"expected KEY=VALUE, got {text!r}")
    if not key.isidentifier():
        raise argparse.ArgumentTypeError(f"option name {key!r} is not a valid identifier")
    try:
        value: Any = json.loads(raw)
    except ValueError:
        value = raw
    return key, value
