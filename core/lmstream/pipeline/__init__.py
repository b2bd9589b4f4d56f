"""From input to events: chat-template rendering, structured-output constraints, and the
per-token text pipeline (detokenizing, stop strings, reasoning, tool-call parsing)."""

from __future__ import annotations

from ._constraints import (
    Constraint,
    ConstraintEngine,
    ConstraintError,
    TokenMatcher,
    Vocabulary,
    build_constraint,
    vocabulary_for,
)
from ._decoded import DecodedPipeline
from ._rendering import choose_template, render_chat_template, render_messages
from ._toolturns import GENERIC_TOOL_FORMAT, TemplateCaps

__all__ = [
    "GENERIC_TOOL_FORMAT",
    "Constraint",
    "ConstraintEngine",
    "ConstraintError",
    "DecodedPipeline",
    "TemplateCaps",
    "TokenMatcher",
    "Vocabulary",
    "build_constraint",
    "choose_template",
    "render_chat_template",
    "render_messages",
    "vocabulary_for",
]
