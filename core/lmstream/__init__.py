"""lmstream: streaming LLM generation with pluggable backends, parsers, templates and observers.

Three public surfaces, one per reader:

- ``lmstream`` (this module): what a user calls: ``load``, the five generation APIs
  (``generate`` streams events; ``generate_task``, ``generate_tokens``, ``generate_tokens_task``,
  ``generate_token_task``), ``ChatSession``, the events, ``GenerationParameters``, the inputs,
  the errors, prompt caches, observers and ``hookimpl``.
- ``lmstream.backend``: what a backend author implements or uses (``BackendModel``,
  ``BatchRunner``, ``SequenceRequest``, ``StepResult``, ``GenerationControl``, the GGUF reader).
- ``lmstream.plugin``: what a plugin author implements or uses (``ToolParser``,
  ``ChatTemplateRenderer``, ``Command``, ``ConstraintEngine``, the hook specs).

Names that moved from here to ``lmstream.backend`` / ``lmstream.plugin`` still work for one
release: reading them here returns the same object with a ``DeprecationWarning`` naming the
new home.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from . import backend as backend  # the backend authors' surface (lmstream.backend)
from . import plugin as plugin  # the plugin authors' surface (lmstream.plugin)
from .api import (
    ModelContext,
    generate,
    generate_task,
    generate_token_task,
    generate_tokens,
    generate_tokens_task,
    load,
)
from .chat import ChatSession, ChatStream, SessionEvent, ToolResult
from .errors import (
    ContextLengthError,
    DuplicateNameError,
    GenerationError,
    GGUFFormatError,
    LmstreamError,
    ModelLoadError,
    TemplateError,
    TemplateRenderError,
    ToolCallRejected,
    UnknownNameError,
)
from .hooks import (
    GenerationRecord,
    Observer,
    ObserverPlugin,
    PluginSystem,
    get_plugin_manager,
    get_plugin_system,
    get_tool_parser,
    hookimpl,
    register_plugin,
)
from .model import ListPromptCache, ModelInfo, OptionError, PromptCache
from .pipeline import render_chat_template, render_messages
from .protocol import (
    Channel,
    ChatMessage,
    ChatTemplateOptions,
    Chunk,
    Event,
    EventStream,
    GenerationParameters,
    GenerationResult,
    GenerationStats,
    GenerationTask,
    Info,
    LMInput,
    RejectedToolCall,
    StopReason,
    TextEvent,
    Token,
    TokenEvent,
    TokenLogprob,
    ToolCall,
    ToolCallDelta,
    ToolSpec,
    UserInput,
    coerce_tools,
)
from .scheduling import PrefixCacheStats, default_prefix_cache_bytes

__version__ = "0.1.0"

__all__ = [
    "Channel",
    "ChatMessage",
    "ChatSession",
    "ChatStream",
    "ChatTemplateOptions",
    "Chunk",
    "ContextLengthError",
    "DuplicateNameError",
    "Event",
    "EventStream",
    "GGUFFormatError",
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
    "OptionError",
    "PluginSystem",
    "PrefixCacheStats",
    "PromptCache",
    "RejectedToolCall",
    "SessionEvent",
    "StopReason",
    "TemplateError",
    "TemplateRenderError",
    "TextEvent",
    "Token",
    "TokenEvent",
    "TokenLogprob",
    "ToolCall",
    "ToolCallDelta",
    "ToolCallRejected",
    "ToolResult",
    "ToolSpec",
    "UnknownNameError",
    "UserInput",
    "coerce_tools",
    "default_prefix_cache_bytes",
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
    "register_plugin",
    "render_chat_template",
    "render_messages",
]

MOVED: dict[str, str] = {
    **dict.fromkeys((
        "DEFAULT_FILE", "DEFAULT_NAME", "DEFAULT_PACKAGE", "GGML_TYPE_NAMES", "GGUF_MAGIC",
        "INSTALL_DEFAULT", "BackendModel", "BatchRunner", "GGUFHeader", "GenerationControl",
        "SequenceEnded", "SequenceRequest", "StepResult", "TensorInfo", "Tokenizer",
        "common_prefix_length", "default_model_path", "gguf_tokenizer_config", "read_gguf_header",
        "BackendOptions", "Drafter", "DraftState", "DrafterFactory", "TokenConstraint",
    ), "lmstream.backend"),
    **dict.fromkeys((
        "ChatTemplateRenderer", "Command", "ConstraintSpec", "EventObserverPlugin",
        "TemplateRequest", "ToolParser", "ToolParserFactory", "Vocabulary",
        "missing_dependencies", "parse_option",
    ), "lmstream.plugin"),
}
"""Names this module exported before the split into three surfaces, and where they live now.
Deprecated here for one release (read through ``__getattr__``); the next release drops them."""

if not TYPE_CHECKING:  # mypy sees no module __getattr__, so it flags the old names in plugins

    def __getattr__(name: str) -> object:
        """An old name read from ``lmstream``: its object from the new home, with a warning."""
        home = MOVED.get(name)
        if home is None:
            raise AttributeError(f"module 'lmstream' has no attribute {name!r}")
        import importlib
        import warnings

        warnings.warn(f"lmstream.{name} moved to {home}.{name}; import it from {home} "
                      f"(the old name goes away in the next release)",
                      DeprecationWarning, stacklevel=2)
        return getattr(importlib.import_module(home), name)
