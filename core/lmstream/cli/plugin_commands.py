"""Subcommands registered by plugins (``lmstream_register_commands``), added to the parser.

A broken or clashing plugin command is logged and skipped: it never breaks the other commands.
"""

from __future__ import annotations

import argparse
import logging
from typing import Any

from ..plugins import Command, get_plugin_system

logger = logging.getLogger("lmstream.cli")

BUILT_IN_COMMANDS = frozenset({"generate", "chat", "plugins", "bench"})


def add_plugin_commands(commands: Any) -> list[str]:
    """Add one subparser per registered command to ``commands`` (argparse subparsers action).

    Returns the names added. Each subparser carries its ``Command`` as ``plugin_command``.
    """
    try:
        registry = get_plugin_system().commands
    except Exception as exc:  # e.g. two plugins registered one backend name
        logger.warning("plugin commands unavailable: %s", exc)
        return []
    added: list[str] = []
    for name in registry.names():
        command = registry.get(name)
        if name in BUILT_IN_COMMANDS:
            logger.warning("plugin %s registered command %r, a built-in command; ignored",
                           registry.owner(name), name)
            continue
        if not isinstance(command, Command):
            logger.warning("plugin %s registered command %r as %s, not lmstream.plugin.Command; ignored",
                           registry.owner(name), name, type(command).__name__)
            continue
        parser: argparse.ArgumentParser = commands.add_parser(
            name, help=command.help, description=command.description or command.help)
        try:
            command.configure(parser)
        except Exception as exc:
            logger.warning("command %r (plugin %s) failed to configure: %s", name, registry.owner(name), exc)
            continue
        parser.set_defaults(plugin_command=command)
        added.append(name)
    return added
