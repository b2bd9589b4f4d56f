"""The tool-call parser slot of the pipeline: the parser protocol and how to get one by name."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

from .events import TextEvent
from .inputs import ToolSpec, coerce_tools

if TYPE_CHECKING:
    from .plugins import PluginSystem


@runtime_checkable
class ToolParser(Protocol):
    """A streaming tool-call parser; one fresh instance per generation.

    ``feed`` takes the next text delta and returns the events that are decided (content
    ``Chunk``s, ``ToolCall``s, ``RejectedToolCall``s); text that could still become a marker is
    held back. ``finish`` flushes at the end of the stream: held text becomes content, an
    unclosed call becomes a ``RejectedToolCall(reason="incomplete")``. Never raises on model
    output; nothing fed is ever lost.
    """

    def feed(self, text: str) -> list[TextEvent]: ...

    def finish(self) -> list[TextEvent]: ...


ToolParserFactory = Callable[[list[ToolSpec] | None], ToolParser]
"""``factory(tools) -> ToolParser``; ``tools=None`` accepts any tool name."""

NO_TOOL_PARSER = "none"
"""Parser name that disables tool-call parsing (text passes through untouched)."""


def get_tool_parser(name: str, tools: Sequence[ToolSpec | dict[str, Any]] | None = None, *,
                    plugin_system: PluginSystem | None = None) -> ToolParser:
    """A fresh parser registered under ``name``; ``tools`` as ToolSpecs or (OpenAI) dicts.

    ``plugin_system`` (default: the process-wide one) supplies the parsers; with a context,
    pass ``context.plugin_system`` (or call ``context.tool_parser``).
    """
    if plugin_system is None:
        from .plugins import get_plugin_system

        plugin_system = get_plugin_system()
    factory = plugin_system.tool_parsers.get(name)
    return factory(coerce_tools(tools))
