"""Multi-turn chat: ``ChatSession``, one turn as a stream (``ChatStream``), tool dispatch, and
saved-session files."""

from __future__ import annotations

from ._session import ChatSession
from ._stream import ChatStream, SessionEvent
from ._tool_dispatch import ToolResult

__all__ = [
    "ChatSession",
    "ChatStream",
    "SessionEvent",
    "ToolResult",
]
