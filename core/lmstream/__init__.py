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
from .constraints import Vocabulary
from .context import ModelContext, load
from .default_model import (
    DEFAULT_FILE,
    DEFAULT_NAME,
    DEFAULT_PACKAGE,
    INSTALL_DEFAULT,
    default_model_path,
    gguf_tokenizer_config,
)
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
from .gguf_reader import (
    GGML_TYPE_NAMES,
    GGUF_MAGIC,
    GGUFFormatError,
    GGUFHeader,
    TensorInfo,
    read_gguf_header,
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
from .structured import ConstraintSpec
from .templating import ChatTemplateRenderer, TemplateRequest
from .tool_dispatch import ToolResult
from .toolparsing import ToolParser, ToolParserFactory, get_tool_parser

__version__ = "0.1.0"

__all__ = [
    "DEFAULT_FILE",
    "DEFAULT_NAME",
    "DEFAULT_PACKAGE",
    "GGML_TYPE_NAMES",
    "GGUF_MAGIC",
    "INSTALL_DEFAULT",
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
    "ConstraintSpec",
    "ContextLengthError",
    "DuplicateNameError",
    "Event",
    "EventObserverPlugin",
    "EventStream",
    "GGUFFormatError",
    "GGUFHeader",
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
    "TensorInfo",
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
    "Vocabulary",
    "coerce_tools",
    "common_prefix_length",
    "default_model_path",
    "generate",
    "generate_task",
    "generate_token_task",
    "generate_tokens",
    "generate_tokens_task",
    "get_plugin_manager",
    "get_plugin_system",
    "get_tool_parser",
    "gguf_tokenizer_config",
    "hookimpl",
    "load",
    "parse_option",
    "read_gguf_header",
    "register_plugin",
    "render_chat_template",
    "render_messages",
]
