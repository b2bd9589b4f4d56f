"""Loading the model the arguments name, with a spinner on stderr while it loads."""

from __future__ import annotations

import argparse
from typing import Any

from ..context import DEFAULT_BACKEND, ModelContext, load
from .arguments import load_options
from .console import Console
from .progress import Spinner


def open_context(args: argparse.Namespace, console: Console) -> ModelContext:
    """``lmstream.load(args.model, args.backend, **options)`` with a loading spinner."""
    options: dict[str, Any] = load_options(args)
    backend = args.backend or DEFAULT_BACKEND
    what = args.model or "the default model"
    with Spinner(console, f"loading {what} ({backend})"):
        return load(args.model, args.backend, **options)


def stats_observer(context: ModelContext) -> Any:
    """The registered ``stats`` observer (the observers plugin's session aggregator)."""
    return context.plugin_system.observers.get("stats")()


def named_observers(context: ModelContext, names: list[str], *extra: Any) -> list[Any]:
    """Registered observers by name plus ``extra`` objects, each object once (``stats`` is shared)."""
    registry = context.plugin_system.observers
    chosen: list[Any] = []
    for observer in [*(registry.get(name)() for name in names), *extra]:
        if not any(observer is seen for seen in chosen):
            chosen.append(observer)
    return chosen
