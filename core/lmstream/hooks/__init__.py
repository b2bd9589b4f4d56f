"""The plugin system: pluggy hook specs and calling, the typed registries, observers, and the
interfaces plugins implement (tool parsers, chat-template renderers, commands)."""

from __future__ import annotations

from ._commands import Command, parse_option
from ._extras import missing_dependencies, missing_dependency_report
from ._hookspecs import (
    PROJECT_NAME,
    hookimpl,
    hookspec,
    lmstream_generation_end,
    lmstream_generation_event,
    lmstream_generation_start,
    lmstream_register_backends,
    lmstream_register_chat_templates,
    lmstream_register_commands,
    lmstream_register_constraint_engines,
    lmstream_register_drafters,
    lmstream_register_observers,
    lmstream_register_tool_parsers,
    lmstream_resolve_chat_template,
    lmstream_resolve_tool_parser,
)
from ._observer_contract import GenerationRecord, Observer
from ._observer_dispatch import ObserverSet
from ._observer_hook_adapter import EventObserverPlugin, ObserverPlugin
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
    "PROJECT_NAME",
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
    "hookspec",
    "lmstream_generation_end",
    "lmstream_generation_event",
    "lmstream_generation_start",
    "lmstream_register_backends",
    "lmstream_register_chat_templates",
    "lmstream_register_commands",
    "lmstream_register_constraint_engines",
    "lmstream_register_drafters",
    "lmstream_register_observers",
    "lmstream_register_tool_parsers",
    "lmstream_resolve_chat_template",
    "lmstream_resolve_tool_parser",
    "missing_dependencies",
    "missing_dependency_report",
    "parse_option",
    "register_plugin",
    "set_plugin_system",
    "with_deltas",
]
