"""The plugin system: pluggy hook specs and calling, the typed registries, observers, and the
interfaces plugins implement (tool parsers, chat-template renderers, commands)."""

from __future__ import annotations

from ._commands import Command, parse_option
from ._extras import missing_dependencies, missing_dependency_report
from ._hookspecs import hookimpl
from ._observer import GenerationRecord, Observer
from ._observer_plugin import EventObserverPlugin, ObserverPlugin
from ._observing import ObserverSet
from ._system import (
    DISABLE_ENV,
    PluginSystem,
    get_plugin_manager,
    get_plugin_system,
    get_tool_parser,
    register_plugin,
    set_plugin_system,
)
from ._templating import ChatTemplateRenderer, TemplateRequest
from ._toolparsing import NO_TOOL_PARSER, ToolParser, ToolParserFactory, with_deltas

__all__ = [
    "DISABLE_ENV",
    "NO_TOOL_PARSER",
    "ChatTemplateRenderer",
    "Command",
    "EventObserverPlugin",
    "GenerationRecord",
    "Observer",
    "ObserverPlugin",
    "ObserverSet",
    "PluginSystem",
    "TemplateRequest",
    "ToolParser",
    "ToolParserFactory",
    "get_plugin_manager",
    "get_plugin_system",
    "get_tool_parser",
    "hookimpl",
    "missing_dependencies",
    "missing_dependency_report",
    "parse_option",
    "register_plugin",
    "set_plugin_system",
    "with_deltas",
]
