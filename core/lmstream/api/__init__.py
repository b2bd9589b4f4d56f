"""The generation APIs (``generate`` and its task and token variants) and ``ModelContext`` /
``load``, the object a caller holds."""

from __future__ import annotations

from ._auto import AUTO, BackendChoice, choose_backend
from ._context import DEFAULT_BACKEND, ModelContext, load
from ._decisions import DEFAULT_REASONING_BUDGET, TextDecisions
from ._generate import (
    generate,
    generate_task,
    generate_token_task,
    generate_tokens,
    generate_tokens_task,
)

__all__ = [
    "AUTO",
    "DEFAULT_BACKEND",
    "DEFAULT_REASONING_BUDGET",
    "BackendChoice",
    "ModelContext",
    "TextDecisions",
    "choose_backend",
    "generate",
    "generate_task",
    "generate_token_task",
    "generate_tokens",
    "generate_tokens_task",
    "load",
]
