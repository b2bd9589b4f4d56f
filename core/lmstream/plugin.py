"""What a plugin author needs: the public surface for tool parsers, chat templates, observers,
commands and structured-output constraint engines.

A plugin is any object with ``@hookimpl`` methods named after the hook specs
(``lmstream.hookspecs``), registered through the ``lmstream`` entry-point group or
``register_plugin``. Each hook hands the plugin a ``register(name, thing)`` callable; the
things registered implement the interfaces here (``ToolParser``, ``ChatTemplateRenderer``,
``ObserverPlugin`` / ``Observer``, ``Command``, ``ConstraintEngine``).

Backend authors use ``lmstream.backend``; users of the library need only ``lmstream``.
"""

from __future__ import annotations

from . import hookspecs
from .hooks import (
    NO_TOOL_PARSER,
    ChatTemplateRenderer,
    Command,
    EventObserverPlugin,
    GenerationRecord,
    Observer,
    ObserverPlugin,
    PluginSystem,
    TemplateRequest,
    ToolParser,
    ToolParserFactory,
    get_plugin_manager,
    get_plugin_system,
    hookimpl,
    missing_dependencies,
    parse_option,
    register_plugin,
    set_plugin_system,
    with_deltas,
)
from .pipeline import ConstraintEngine, TemplateCaps, TokenMatcher, Vocabulary
from .protocol import ConstraintSpec

__all__ = [
    "NO_TOOL_PARSER",
    "ChatTemplateRenderer",
    "Command",
    "ConstraintEngine",
    "ConstraintSpec",
    "EventObserverPlugin",
    "GenerationRecord",
    "Observer",
    "ObserverPlugin",
    "PluginSystem",
    "TemplateCaps",
    "TemplateRequest",
    "TokenMatcher",
    "ToolParser",
    "ToolParserFactory",
    "Vocabulary",
    "get_plugin_manager",
    "get_plugin_system",
    "hookimpl",
    "hookspecs",
    "missing_dependencies",
    "parse_option",
    "register_plugin",
    "set_plugin_system",
    "with_deltas",
]
