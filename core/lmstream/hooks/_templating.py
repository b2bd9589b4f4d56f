"""The chat-template slot: the renderer protocol and the request a renderer receives."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

from ..model import ModelInfo
from ..protocol import ChatTemplateOptions


@dataclass(frozen=True)
class TemplateRequest:
    """Everything a renderer needs: messages and tools as template dicts, options and the source.

    ``source`` is the template text the caller chose (None: the renderer's own, or the model's
    ``chat_template``); ``special_tokens`` holds ``bos_token``, ``eos_token`` and friends.
    """

    messages: list[dict[str, Any]]
    tools: list[dict[str, Any]] | None = None
    options: ChatTemplateOptions = field(default_factory=ChatTemplateOptions)
    source: str | None = None
    model: ModelInfo | None = None
    special_tokens: Mapping[str, str] = field(default_factory=dict)


class ChatTemplateRenderer(Protocol):
    """Renders a chat to the prompt string; raises ``lmstream.TemplateError`` on failure."""

    def __call__(self, request: TemplateRequest) -> str: ...
