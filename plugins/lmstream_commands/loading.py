"""Loading the model the arguments name, with a spinner on stderr while it loads."""

from __future__ import annotations

import argparse
from typing import Any

from lmstream import ModelContext, PluginSystem, load
from lmstream.cli import DEFAULT_BACKEND, DISABLE_ENV, UsageError
from lmstream.plugin import missing_dependencies

from .arguments import load_options
from .console import Console
from .progress import Spinner


def open_context(args: argparse.Namespace, console: Console) -> ModelContext:
    """``lmstream.load(args.model, args.backend, **options)`` with a loading spinner."""
    options: dict[str, Any] = load_options(args)
    backend = args.backend or DEFAULT_BACKEND
    missing = missing_dependencies(backend) if args.backend else None
    if missing is not None:
        raise UsageError(f"--backend {backend}: {missing}")
    what = args.model or "the default model"
    with Spinner(console, f"loading {what} ({backend})"):
        return load(args.model, args.backend, **options)


def backend_line(context: ModelContext) -> str:
    """``backend: llama_cpp (auto: CPU-only machine, llama.cpp installed)`` for ``--stats``."""
    return f"backend: {context.backend_choice.describe()}"


STATS_PLUGIN = "observers"
"""The plugin that registers the ``stats`` observer behind ``--stats``."""


def stats_available(system: PluginSystem) -> bool:
    """Whether a ``stats`` observer is registered (the observers plugin may be disabled)."""
    return "stats" in system.observers


def stats_observer(system: PluginSystem) -> Any:
    """The registered ``stats`` observer (the observers plugin's session aggregator).

    Raises UsageError naming the plugin when it is disabled or failed to load, before any
    model is loaded.
    """
    if not stats_available(system):
        if STATS_PLUGIN in system.disabled:
            why = f"which {DISABLE_ENV} disables"
        elif STATS_PLUGIN in system.load_errors:
            why = f"which failed to load ({system.load_errors[STATS_PLUGIN]})"
        else:
            why = "which is not installed"
        raise UsageError(f"--stats needs the 'stats' observer of the {STATS_PLUGIN!r} plugin, {why}")
    return system.observers.get("stats")()


def named_observers(context: ModelContext, names: list[str], *extra: Any) -> list[Any]:
    """Registered observers by name plus ``extra`` objects, each object once (``stats`` is shared)."""
    registry = context.plugin_system.observers
    chosen: list[Any] = []
    for observer in [*(registry.get(name)() for name in names), *extra]:
        if not any(observer is seen for seen in chosen):
            chosen.append(observer)
    return chosen
