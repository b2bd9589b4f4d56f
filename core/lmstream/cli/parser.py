"""The ``lmstream`` parser: top-level options plus one subparser per registered command.

Every command, built-in or not, comes through ``lmstream_register_commands``: the built-in
``generate``/``chat``/``plugins``/``bench`` are the ``commands`` plugin's, ``serve`` the
``server`` plugin's. A broken or clashing plugin command is logged and skipped: it never
breaks the other commands.
"""

from __future__ import annotations

import argparse
import logging
from typing import Any

from .. import __version__
from ..hooks import DISABLE_ENV, Command, PluginSystem, get_plugin_system

logger = logging.getLogger("lmstream.cli")

BUILT_IN_PLUGIN = "commands"
"""The entry-point name of lmstream's own command plugin (``lmstream_commands``)."""
BUILT_IN_COMMANDS = ("generate", "chat", "plugins", "bench")
"""The commands it registers, in the order ``lmstream --help`` lists them (the others follow,
sorted). A built-in name stays the built-in plugin's while that plugin is loaded."""
SELECTED = "selected_command"
"""The namespace attribute that carries the chosen command's ``Command``."""


def build_parser(system: PluginSystem | None = None) -> argparse.ArgumentParser:
    """The ``lmstream`` parser with every command registered in ``system`` (default: the process's)."""
    system = get_plugin_system() if system is None else system
    parser = argparse.ArgumentParser(
        prog="lmstream", description="Streaming LLM generation with pluggable backends.",
        epilog=_missing_note(system))
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    parser.add_argument("--verbose", "-v", action="count", default=0,
                        help="log more (-v: INFO, shows the log observer; -vv: DEBUG and tracebacks)")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    add_registered_commands(commands, system)
    return parser


def add_registered_commands(commands: Any, system: PluginSystem) -> list[str]:
    """Add one subparser per registered command to ``commands`` (argparse subparsers action).

    Returns the names added. Each subparser carries its ``Command`` under ``SELECTED``. A
    built-in name runs the built-in command while the ``commands`` plugin is loaded, whichever
    plugin's hook ran first; with that plugin disabled another plugin may provide the name.
    """
    try:
        registry = system.commands
    except Exception as exc:  # e.g. two plugins registered one backend name
        logger.warning("plugin commands unavailable: %s", exc)
        return []
    built_in_loaded = system.pm.has_plugin(BUILT_IN_PLUGIN)
    names = [n for n in BUILT_IN_COMMANDS if n in registry] + [
        n for n in registry.names() if n not in BUILT_IN_COMMANDS]
    added: list[str] = []
    for name in names:
        command: object = registry.get(name)
        owner = registry.owner(name)
        if name in BUILT_IN_COMMANDS and built_in_loaded:
            if owner != BUILT_IN_PLUGIN:  # a plugin whose hook ran first took the name
                logger.warning("plugin %s registered command %r, a built-in command; ignored", owner, name)
                command, owner = _built_in_command(system, name), BUILT_IN_PLUGIN
            elif any(clash.startswith(f"command {name!r} registered twice") for clash in registry.clashes):
                logger.warning("command %r is a built-in command of the %r plugin; another plugin's "
                               "registration of it is ignored", name, BUILT_IN_PLUGIN)
        if not isinstance(command, Command):
            logger.warning("plugin %s registered command %r as %s, not lmstream.plugin.Command; ignored",
                           owner, name, type(command).__name__)
            continue
        parser: argparse.ArgumentParser = commands.add_parser(
            name, help=command.help, description=command.description or command.help)
        try:
            command.configure(parser)
        except Exception as exc:
            logger.warning("command %r (plugin %s) failed to configure: %s", name, owner, exc)
            continue
        parser.set_defaults(**{SELECTED: command})
        added.append(name)
    return added


def _built_in_command(system: PluginSystem, name: str) -> object:
    """The built-in plugin's own command ``name``, asked of that plugin alone (pluggy's subset
    hook caller), for when another plugin's hook ran first and the registry kept its command."""
    built_in = system.pm.get_plugin(BUILT_IN_PLUGIN)
    others = [plugin for _, plugin in system.pm.list_name_plugin()
              if plugin is not None and plugin is not built_in]
    caller = system.pm.subset_hook_caller("lmstream_register_commands", remove_plugins=others)
    found: dict[str, object] = {}
    try:
        caller(register=lambda key, command: found.setdefault(key, command))
    except Exception as exc:  # the registry call logged the same failure already
        logger.warning("the %r plugin failed to register its commands: %s", BUILT_IN_PLUGIN, exc)
    return found.get(name)


def built_ins_missing(system: PluginSystem) -> str | None:
    """Why the built-in commands are not there (disabled, failed to load, not installed), or
    None when their plugin is loaded."""
    if system.pm.has_plugin(BUILT_IN_PLUGIN):
        return None
    if BUILT_IN_PLUGIN in system.disabled:
        return f"{DISABLE_ENV} disables the {BUILT_IN_PLUGIN!r} plugin that provides them"
    if BUILT_IN_PLUGIN in system.load_errors:
        return (f"the {BUILT_IN_PLUGIN!r} plugin that provides them failed to load "
                f"({system.load_errors[BUILT_IN_PLUGIN]})")
    return f"the {BUILT_IN_PLUGIN!r} plugin that provides them is not installed"


def _missing_note(system: PluginSystem) -> str | None:
    """The ``lmstream --help`` epilog when the built-in commands are missing."""
    why = built_ins_missing(system)
    return None if why is None else f"The built-in commands ({', '.join(BUILT_IN_COMMANDS)}) are unavailable: {why}."


def requested_command(argv: list[str]) -> str | None:
    """The command ``argv`` names: its first word that is not an option (the top-level options
    take no value), or None; None too after ``--help`` or ``--version``, which argparse answers
    before any command."""
    for word in argv:
        if word in ("-h", "--help", "--version"):
            return None
        if word != "--" and not word.startswith("-"):
            return word
    return None
