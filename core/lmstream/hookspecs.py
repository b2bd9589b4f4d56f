"""The plugin hook specifications at their public path, ``lmstream.hookspecs`` (imported from outside).

They live in the core's ``plugins`` part; ``hookimpl`` is also exported by ``lmstream`` and
``lmstream.plugin``.
``pluggy.PluginManager.add_hookspecs(lmstream.hookspecs)`` works on this module too.
"""

from __future__ import annotations

from .hooks import (
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

__all__ = [
    "PROJECT_NAME",
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
]
