"""The built-in tool-call parser plugin (entry point ``toolcalls`` in the ``lmstream`` group)."""

from __future__ import annotations

from collections.abc import Callable

import lmstream
from lmstream import ModelInfo
from lmstream.plugin import ToolParserFactory

from .catalog import FORMATS
from .resolve import resolve


@lmstream.hookimpl
def lmstream_register_tool_parsers(register: Callable[[str, ToolParserFactory], None]) -> None:
    """Register every built-in format under its name (``json``, ``mistral``, ``harmony``, ...)."""
    for name, fmt in FORMATS.items():
        register(name, fmt.parser)


@lmstream.hookimpl(trylast=True)
def lmstream_resolve_tool_parser(model: ModelInfo) -> str | None:
    """The built-in parser that fits ``model`` (runs last, so third-party resolvers win)."""
    return resolve(model.tokenizer_config or {}, model.chat_template, model.model_type)
