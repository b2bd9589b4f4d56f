"""``lmstream plugins``: every plugin, its distribution, its hooks, its names, and load errors."""

from __future__ import annotations

import argparse

from ..api import choose_backend
from ..plugins import PluginSystem, get_plugin_system, missing_dependency_report
from .console import Console
from .exitcodes import OK

REGISTRIES = (("backends", "backends"), ("tool parsers", "tool_parsers"),
              ("chat templates", "chat_templates"), ("observers", "observers"),
              ("commands", "commands"), ("engines", "constraint_engines"), ("drafters", "drafters"))
HOOK_PREFIX = "lmstream_"


def table(rows: list[tuple[str, ...]]) -> list[str]:
    """Rows as left-aligned columns separated by two spaces."""
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    return ["  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip()
            for row in rows]


def describe(system: PluginSystem) -> list[str]:
    """The lines ``lmstream plugins`` prints."""
    rows: list[tuple[str, ...]] = [("PLUGIN", "DISTRIBUTION", "HOOKS")]
    for plugin in system.describe():
        hooks = ", ".join(h.removeprefix(HOOK_PREFIX) for h in plugin.hooks) or "(none)"
        rows.append((plugin.name, plugin.distribution, hooks))
    lines = table(rows)
    lines += ["", "registered names:"]
    for label, attribute in REGISTRIES:
        try:
            registry = getattr(system, attribute)
            names = ", ".join(f"{name} ({registry.owner(name)})" for name in registry.names()) or "(none)"
            clashes = list(registry.clashes)
        except Exception as exc:  # a registry that cannot be built shows why, on its row only
            names, clashes = f"error: {exc}", []
        lines.append(f"  {label + ':':<16}{names}")
        lines += [f"  {'':<16}warning: {clash}" for clash in clashes]
    lines += ["", f"default backend: {default_backend(system)}"]
    missing = missing_dependency_report()
    if missing:
        lines += ["", "missing optional dependencies (the plugin fails when used until installed):"]
        lines += missing
    if system.load_errors:
        lines += ["", "failed to load:"]
        lines += [f"  {name}: {error}" for name, error in sorted(system.load_errors.items())]
    return lines


def default_backend(system: PluginSystem) -> str:
    """What ``load()`` without a backend runs here, and why (``backend="auto"``)."""
    try:
        return choose_backend(None, system.backends.names()).describe()
    except Exception as exc:  # a registry that cannot be built: say so on this line only
        return f"error: {exc}"


def run_plugins(args: argparse.Namespace, console: Console) -> int:
    """Print the plugin listing."""
    console.text("\n".join(describe(get_plugin_system())) + "\n")
    return OK
