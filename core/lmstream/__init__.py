"""lmstream: streaming LLM generation with pluggable backends, parsers, templates and observers."""

from __future__ import annotations

from .backend import BackendModel, GenerationControl, ModelInfo, PromptCache, Tokenizer
from .errors import (
    ContextLengthError,
    DuplicateNameError,
    GenerationError,
    LmstreamError,
    ModelLoadError,
    TemplateError,
    ToolCallRejected,
    UnknownNameError,
)
from .events import Chunk, Event, Info, RejectedToolCall, StopReason, Token, TokenEvent, ToolCall
from .hookspecs import hookimpl
from .inputs import ChatMessage, ChatTemplateOptions, LMInput, ToolSpec, UserInput
from .observing import GenerationRecord, Observer
from .parameters import GenerationParameters
from .plugins import PluginSystem, get_plugin_manager, get_plugin_system, register_plugin
from .stats import GenerationStats
from .templating import TemplateRequest
from .toolparsing import ToolParser, get_tool_parser

__version__ = "0.1.0"

__all__ = [
    "BackendModel",
    "ChatMessage",
    "ChatTemplateOptions",
    "Chunk",
    "ContextLengthError",
    "DuplicateNameError",
    "Event",
    "GenerationControl",
    "GenerationError",
    "GenerationParameters",
    "GenerationRecord",
    "GenerationStats",
    "Info",
    "LMInput",
    "LmstreamError",
    "ModelInfo",
    "ModelLoadError",
    "Observer",
    "PluginSystem",
    "PromptCache",
    "RejectedToolCall",
    "StopReason",
    "TemplateError",
    "TemplateRequest",
    "Token",
    "TokenEvent",
    "Tokenizer",
    "ToolCall",
    "ToolCallRejected",
    "ToolParser",
    "ToolSpec",
    "UnknownNameError",
    "UserInput",
    "get_plugin_manager",
    "get_plugin_system",
    "get_tool_parser",
    "hookimpl",
    "register_plugin",
]
