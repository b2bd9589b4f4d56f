"""Built-in chat-template renderers: Hugging Face Jinja templates in a hardened sandbox, named
built-ins (chatml, llama3, mistral, gemma) and the loaders that find a model's template."""

from __future__ import annotations

from .builtins import BUILTIN_NAMES, builtin_source
from .limits import TemplateLimitError, TemplateLimits, get_template_limits, set_template_limits
from .renderer import JinjaRenderer
from .sources import chat_template_from_gguf_metadata, load_chat_template

__all__ = [
    "BUILTIN_NAMES",
    "JinjaRenderer",
    "TemplateLimitError",
    "TemplateLimits",
    "builtin_source",
    "chat_template_from_gguf_metadata",
    "get_template_limits",
    "load_chat_template",
    "set_template_limits",
]
