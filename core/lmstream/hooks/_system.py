"""The plugin system: one pluggy manager, entry points loaded once, typed registries.

``LMSTREAM_DISABLE_PLUGINS=name,name`` blocks plugins by entry-point (or registered) name.
"""

from __future__ import annotations

import importlib.metadata
import logging
import os
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import pluggy

from ..model import BackendFactory, DrafterFactory, ModelInfo
from ..protocol import ToolSpec, coerce_tools
from . import _hookspecs as hookspecs
from ._commands import Command
from ._hookcalling import IsolatedHook
from ._registry import Registry
from ._templating import ChatTemplateRenderer
from ._toolparsing import NO_TOOL_PARSER, PassThroughParser, ToolParser, ToolParserFactory

logger = logging.getLogger("lmstream.hooks")

ENTRY_POINT_GROUP = "lmstream"
DISABLE_ENV = "LMSTREAM_DISABLE_PLUGINS"


def disabled_plugin_names(env: str | None = None) -> set[str]:
    """Plugin names blocked by ``LMSTREAM_DISABLE_PLUGINS`` (comma separated)."""
    raw = os.environ.get(DISABLE_ENV, "") if env is None else env
    return {part.strip() for part in raw.split(",") if part.strip()}


def _is_builtin(ep: importlib.metadata.EntryPoint) -> bool:
    """Whether ``ep`` is one of lmstream's own entry points."""
    dist = ep.dist
    return dist is not None and dist.name == "lmstream"


class PluginSystem:
    """A plugin manager plus the registries its plugins fill; build a fresh one for tests."""

    def __init__(self, *, load_entry_points: bool = True, disabled: set[str] | None = None) -> None:
        self.pm = pluggy.PluginManager(hookspecs.PROJECT_NAME)
        self.pm.add_hookspecs(hookspecs)
        self.disabled = disabled_plugin_names() if disabled is None else set(disabled)
        for name in self.disabled:
            self.pm.set_blocked(name)
        self._lock = threading.RLock()
        self._distributions: dict[str, str] = {}
        self.load_errors: dict[str, str] = {}
        """Entry points that failed to load: name -> error (shown by ``lmstream plugins``)."""
        if load_entry_points:
            self._load_entry_points()
        self._registries: dict[str, Registry[Any]] | None = None

    def _load_entry_points(self) -> None:
        """Load every ``lmstream`` entry point once; a broken plugin is logged, not fatal.

        Third-party entry points are registered first and lmstream's own last, so (pluggy calls
        the last registered first) built-in registration hooks run first and keep their names.
        """
        entry_points = sorted(importlib.metadata.entry_points(group=ENTRY_POINT_GROUP),
                              key=lambda ep: (_is_builtin(ep), ep.name))
        for ep in entry_points:
            if self.pm.is_blocked(ep.name) or self.pm.has_plugin(ep.name):
                continue
            try:
                plugin = ep.load()
                self.pm.register(plugin, name=ep.name)
            except Exception as exc:  # a broken third-party plugin must not break lmstream
                self.load_errors[ep.name] = f"{type(exc).__name__}: {exc}"
                logger.warning("lmstream plugin %r failed to load: %s", ep.name, exc)
                continue
            dist = ep.dist
            self._distributions[ep.name] = f"{dist.name} {dist.version}" if dist else "?"

    # -- registration -------------------------------------------------------------------
    def register(self, plugin: object, name: str | None = None) -> str | None:
        """Register a plugin object or module at run time (refused if its name is disabled)."""
        with self._lock:
            if name is not None and name in self.disabled:
                return None
            registered = self.pm.register(plugin, name=name)
            self._registries = None
            return registered

    def unregister(self, plugin: object | None = None, name: str | None = None) -> None:
        """Remove a plugin registered before."""
        with self._lock:
            self.pm.unregister(plugin=plugin, name=name)
            self._registries = None

    # -- registries ---------------------------------------------------------------------
    def _build(self) -> dict[str, Registry[Any]]:
        registries: dict[str, Registry[Any]] = {
            "backend": Registry("backend"),
            "tool parser": Registry("tool parser"),
            "chat template": Registry("chat template"),
            "observer": Registry("observer"),
            "command": Registry("command"),
            "constraint engine": Registry("constraint engine"),
            "drafter": Registry("drafter"),
        }
        hooks = {
            "backend": self.pm.hook.lmstream_register_backends,
            "tool parser": self.pm.hook.lmstream_register_tool_parsers,
            "chat template": self.pm.hook.lmstream_register_chat_templates,
            "observer": self.pm.hook.lmstream_register_observers,
            "command": self.pm.hook.lmstream_register_commands,
            "constraint engine": self.pm.hook.lmstream_register_constraint_engines,
            "drafter": self.pm.hook.lmstream_register_drafters,
        }
        for kind, hook in hooks.items():
            self._call_registration(hook, registries[kind])
        return registries

    def _call_registration(self, hook: pluggy.HookCaller, registry: Registry[Any]) -> None:
        """Call one registration hook with pluggy's semantics (order, argument subsets,
        wrappers), each plugin with a ``register`` that knows its owner; a plugin whose hook
        raises is logged, kept in ``load_errors`` and skipped, never fatal to the others."""
        registers: dict[str, Callable[[str, Any], object]] = {}

        def register_for(impl: pluggy.HookImpl) -> tuple[Callable[[str, Any], object]]:
            owner = impl.plugin_name
            if owner not in registers:
                registers[owner] = lambda name, item: registry.register(name, item, owner=owner)
            return (registers[owner],)

        def failed(impl: pluggy.HookImpl, exc: Exception) -> None:
            self.load_errors[impl.plugin_name] = f"{hook.name}: {type(exc).__name__}: {exc}"
            logger.warning("lmstream plugin %r failed in %s: %s", impl.plugin_name, hook.name, exc)

        IsolatedHook(hook, ("register",), on_error=failed).call_with(register_for)

    def _registry(self, kind: str) -> Registry[Any]:
        with self._lock:
            if self._registries is None:
                self._registries = self._build()
            return self._registries[kind]

    @property
    def backends(self) -> Registry[BackendFactory]:
        """Backend factories by name."""
        return self._registry("backend")

    @property
    def tool_parsers(self) -> Registry[ToolParserFactory]:
        """Tool-call parser factories by name."""
        return self._registry("tool parser")

    @property
    def chat_templates(self) -> Registry[ChatTemplateRenderer]:
        """Chat-template renderers by name."""
        return self._registry("chat template")

    @property
    def commands(self) -> Registry[Command]:
        """``lmstream`` subcommands added by plugins, by name."""
        return self._registry("command")

    @property
    def observers(self) -> Registry[Callable[..., Any]]:
        """Observer factories by name."""
        return self._registry("observer")

    @property
    def constraint_engines(self) -> Registry[Any]:
        """Structured-output constraint engines by name (``lmstream.plugin.ConstraintEngine``)."""
        return self._registry("constraint engine")

    @property
    def drafters(self) -> Registry[DrafterFactory]:
        """Speculative-decoding drafter factories by name (``load(..., drafter=name)``)."""
        return self._registry("drafter")

    # -- resolution ---------------------------------------------------------------------
    def resolve_tool_parser(self, model: ModelInfo) -> str | None:
        """The parser name the first resolver (third parties before built-ins) picks."""
        result: str | None = self.pm.hook.lmstream_resolve_tool_parser(model=model)
        return result

    def resolve_chat_template(self, model: ModelInfo) -> str | None:
        """The chat-template renderer name the first resolver picks."""
        result: str | None = self.pm.hook.lmstream_resolve_chat_template(model=model)
        return result

    # -- introspection ------------------------------------------------------------------
    def describe(self) -> list[PluginDescription]:
        """Every registered plugin with its distribution and the hooks it implements."""
        result = []
        for name, plugin in self.pm.list_name_plugin():
            if plugin is None:
                continue
            hooks = sorted(h.name for h in self.pm.get_hookcallers(plugin) or [])
            result.append(PluginDescription(
                name=name,
                distribution=self._distributions.get(name, "(registered at run time)"),
                hooks=hooks,
            ))
        return sorted(result, key=lambda d: d.name)


    def clashes(self) -> dict[str, list[str]]:
        """Names registered twice, by registry kind (``lmstream plugins`` shows them)."""
        with self._lock:
            if self._registries is None:
                self._registries = self._build()
            return {kind: list(r.clashes) for kind, r in self._registries.items() if r.clashes}


@dataclass(frozen=True)
class PluginDescription:
    """One line of ``lmstream plugins``."""

    name: str
    distribution: str
    hooks: list[str]


_system: PluginSystem | None = None
_system_lock = threading.Lock()


def get_plugin_system() -> PluginSystem:
    """The process-wide plugin system, built (and entry points loaded) on first use."""
    global _system
    if _system is None:
        with _system_lock:
            if _system is None:
                _system = PluginSystem()
    return _system


def set_plugin_system(system: PluginSystem | None) -> PluginSystem | None:
    """Replace the process-wide plugin system (None: rebuild on next use); returns the old one."""
    global _system
    with _system_lock:
        old, _system = _system, system
    return old


def get_plugin_manager() -> pluggy.PluginManager:
    """The process-wide pluggy manager."""
    return get_plugin_system().pm


def register_plugin(plugin: object, name: str | None = None) -> str | None:
    """Register a plugin object or module in the process-wide plugin system."""
    return get_plugin_system().register(plugin, name=name)


def entry_point_names() -> list[str]:
    """Names of the installed ``lmstream`` entry points (loaded or not)."""
    return sorted(ep.name for ep in importlib.metadata.entry_points(group=ENTRY_POINT_GROUP))


def get_tool_parser(name: str, tools: Sequence[ToolSpec | dict[str, Any]] | None = None, *,
                    plugin_system: PluginSystem | None = None) -> ToolParser:
    """A fresh parser registered under ``name``; ``tools`` as ToolSpecs or (OpenAI) dicts.
    ``"none"`` gives a pass-through parser (text untouched), as the docs promise.

    ``plugin_system`` (default: the process-wide one) supplies the parsers; with a context,
    pass ``context.plugin_system`` (or call ``context.tool_parser``).
    """
    if name == NO_TOOL_PARSER:
        coerce_tools(tools)  # the tools are still checked
        return PassThroughParser()
    if plugin_system is None:
        plugin_system = get_plugin_system()
    factory = plugin_system.tool_parsers.get(name)
    return factory(coerce_tools(tools))
