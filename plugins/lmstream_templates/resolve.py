"""Which template fits a model: its own (``jinja``), else a built-in its family is known to use."""

from __future__ import annotations

import re

from lmstream import ModelInfo

_FAMILIES: tuple[tuple[str, re.Pattern[str]], ...] = (
    ("gemma", re.compile(r"gemma", re.IGNORECASE)),
    ("mistral", re.compile(r"mistral|mixtral", re.IGNORECASE)),
    ("chatml", re.compile(r"qwen|smollm|hermes", re.IGNORECASE)),
    ("llama3", re.compile(r"llama[-_ ]?3", re.IGNORECASE)),
)


def resolve_template_name(model: ModelInfo) -> str | None:
    """``jinja`` when the model ships a chat template; a built-in when its model type or name
    names a family whose format we know; None otherwise (the caller must pick a template)."""
    if model.chat_template:
        return "jinja"
    for text in (model.model_type or "", model.name):
        for name, pattern in _FAMILIES:
            if pattern.search(text):
                return name
    return None
