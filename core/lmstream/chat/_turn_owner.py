"""What one chat turn (``ChatStream``) gets from the session that started it.

``ChatSession`` hands each turn a ``TurnOwner``: its live history list, its prompt cache, its
tools, its settings and two callbacks. The turn works through these names only, and its module
does not import the session's (the session imports the turn).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass

from ..api import ModelContext
from ..model import PromptCache
from ..protocol import ChatMessage, GenerationParameters, Info, LMInput
from ._tool_dispatch import Tool


@dataclass(frozen=True, slots=True)
class TurnOwner:
    """The session side of a turn, fixed when the turn starts."""

    context: ModelContext
    messages: list[ChatMessage]
    """The session's live history: the turn appends its messages and deletes them on rollback."""
    cache: PromptCache
    """The session's prompt cache (kept across turns)."""
    tools: Mapping[str, Tool]
    """The tools the session runs for the model, by name."""
    raise_on_rejected_calls: bool
    max_tool_rounds: int
    prepare_input: Callable[[GenerationParameters], LMInput]
    """Render and tokenize the whole conversation for the next generation (the turn's
    parameters choose how a template without tool support is shown the tools)."""
    turn_ended: Callable[[object, Info | None], None]
    """Tell the session the turn committed (its Info), failed or was left (None)."""
