"""Which built-in plugins miss their optional dependencies, and the command that installs them.

The built-in backends and plugins need extras (``lmstream[llama-cpp]``, ``lmstream[mlx]``...).
Without them a plugin still registers, and fails only when used; ``lmstream plugins`` and
``--backend NAME`` say up front what is missing and how to install it. Modules are looked up
with ``importlib.util.find_spec`` (nothing heavy is imported).
"""

from __future__ import annotations

import importlib.util
from dataclasses import dataclass


@dataclass(frozen=True)
class Extra:
    """The optional dependencies of one built-in plugin: its extra and the modules it provides."""

    extra: str
    modules: tuple[str, ...]
    what: str

    @property
    def install(self) -> str:
        """The pip command installing the extra."""
        return f'pip install "lmstream[{self.extra}]"'


EXTRAS = {
    "mlx": Extra("mlx", ("mlx", "mlx_lm"), "the mlx backend"),
    "llama_cpp": Extra("llama-cpp", ("llama_cpp", "numpy"), "the llama_cpp backend"),
    "server": Extra("server", ("starlette", "uvicorn", "prometheus_client"), "lmstream serve"),
    "structured": Extra("structured", ("llguidance", "numpy"), "structured output (response_format, --json-schema)"),
}
"""Built-in plugin name -> its extra (plugins not listed need nothing beyond lmstream)."""


def _absent(module: str) -> bool:
    try:
        return importlib.util.find_spec(module) is None
    except (ImportError, ValueError):
        return True


def missing_modules(plugin: str) -> list[str]:
    """The modules of ``plugin``'s extra that are not installed (empty: nothing missing)."""
    extra = EXTRAS.get(plugin)
    return [] if extra is None else [m for m in extra.modules if _absent(m)]


def missing_dependencies(plugin: str) -> str | None:
    """A sentence naming what ``plugin`` misses and the install command, or None when complete."""
    missing = missing_modules(plugin)
    if not missing:
        return None
    extra = EXTRAS[plugin]
    return (f"{extra.what} needs the {extra.extra!r} extra (missing: {', '.join(missing)}); "
            f"install it with: {extra.install}")


def missing_dependency_report() -> list[str]:
    """Lines for ``lmstream plugins``: one per built-in plugin with missing dependencies."""
    return [f"  {name}: {sentence}" for name in sorted(EXTRAS)
            if (sentence := missing_dependencies(name)) is not None]
