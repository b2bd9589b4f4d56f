"""lmstream: streaming LLM generation with pluggable backends, parsers, templates and observers."""

from __future__ import annotations

from .backend import (
    BackendModel,
    GenerationControl,
    ListPromptCache,
    ModelInfo,
    PromptCache,
    Tokenizer,
    common_prefix_length,
)
from .batching import BatchRunner, SequenceEnded, SequenceRequest, StepResult
from .chat_session import ChatSession
from .chat_stream import ChatStream, SessionEvent
from .commands import Command, parse_option
from .context import ModelContext, load
from .errors import (
    ContextLengthError,
    DuplicateNameError,
    GenerationError,
    LmstreamError,
    ModelLoadError,
    TemplateError,
    TemplateRenderError,
    ToolCallRejected,
    UnknownNameError,
)
from .events import (
    Channel,
    Chunk,
    Event,
    Info,
    RejectedToolCall,
    StopReason,
    TextEvent,
    Token,
    TokenEvent,
    TokenLogprob,
    ToolCall,
    ToolCallDelta,
)
from .generate import (
    generate,
    generate_task,
    generate_token_task,
    generate_tokens,
    generate_tokens_task,
)
from .hookspecs import hookimpl
from .inputs import ChatMessage, ChatTemplateOptions, LMInput, ToolSpec, UserInput, coerce_tools
from .observer_plugin import EventObserverPlugin, ObserverPlugin
from .observing import GenerationRecord, Observer
from .parameters import GenerationParameters
from .plugins import PluginSystem, get_plugin_manager, get_plugin_system, register_plugin
from .rendering import render_chat_template, render_messages
from .result import GenerationResult
from .stats import GenerationStats
from .streams import EventStream, GenerationTask
from .templating import ChatTemplateRenderer, TemplateRequest
from .tool_dispatch import ToolResult
from .toolparsing import ToolParser, ToolParserFactory, get_tool_parser

__version__ = "0.1.0"

__all__ = [
    "BackendModel",
    "BatchRunner",
    "Channel",
    "ChatMessage",
    "ChatSession",
    "ChatStream",
    "ChatTemplateOptions",
    "ChatTemplateRenderer",
    "Chunk",
    "Command",
    "ContextLengthError",
    "DuplicateNameError",
    "Event",
    "EventObserverPlugin",
    "EventStream",
    "GenerationControl",
    "GenerationError",
    "GenerationParameters",
    "GenerationRecord",
    "GenerationResult",
    "GenerationStats",
    "GenerationTask",
    "Info",
    "LMInput",
    "ListPromptCache",
    "LmstreamError",
    "ModelContext",
    "ModelInfo",
    "ModelLoadError",
    "Observer",
    "ObserverPlugin",
    "PluginSystem",
    "PromptCache",
    "RejectedToolCall",
    "SequenceEnded",
    "SequenceRequest",
    "SessionEvent",
    "StepResult",
    "StopReason",
    "TemplateError",
    "TemplateRenderError",
    "TemplateRequest",
    "TextEvent",
    "Token",
    "TokenEvent",
    "TokenLogprob",
    "Tokenizer",
    "ToolCall",
    "ToolCallDelta",
    "ToolCallRejected",
    "ToolParser",
    "ToolParserFactory",
    "ToolResult",
    "ToolSpec",
    "UnknownNameError",
    "UserInput",
    "coerce_tools",
    "common_prefix_length",
    "generate",
    "generate_task",
    "generate_token_task",
    "generate_tokens",
    "generate_tokens_task",
    "get_plugin_manager",
    "get_plugin_system",
    "get_tool_parser",
    "hookimpl",
    "load",
    "parse_option",
    "register_plugin",
    "render_chat_template",
    "render_messages",
]
