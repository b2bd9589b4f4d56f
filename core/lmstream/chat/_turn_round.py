"""What one generation of a chat turn produced, and the assistant message it becomes."""

from __future__ import annotations

from ..protocol import ChatMessage, ToolCall
from ._tool_dispatch import ToolResult


class Round:
    """What one generation of the turn produced so far."""

    __slots__ = ("calls", "content", "reasoning", "refused")

    def __init__(self) -> None:
        self.content: list[str] = []
        self.reasoning: list[str] = []
        self.calls: list[ToolCall] = []
        self.refused: dict[str, ToolResult] = {}
        """Calls the parser refused (undeclared tool, invalid arguments), by the id they get
        in the history, with the error result the model reads."""


def assistant_message(current: Round) -> ChatMessage:
    """The assistant message of one generation; tool calls in OpenAI shape with dict arguments
    (what Hugging Face chat templates expect). Beside tool calls the content is stripped: the
    whitespace around and between calls belongs to the call syntax templates render back."""
    calls = [{"id": call.id, "type": "function",
              "function": {"name": call.name, "arguments": call.arguments}} for call in current.calls]
    content = "".join(current.content)
    if calls:
        content = content.strip()
    reasoning = "".join(current.reasoning)
    return ChatMessage(role="assistant", content=content, tool_calls=calls or None,
                       reasoning_content=reasoning or None)
