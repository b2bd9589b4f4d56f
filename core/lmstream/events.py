"""The stream protocol's events at their public path, ``lmstream.events`` (imported from outside).

They live in ``lmstream.protocol``; every name is also exported by ``lmstream`` itself.
"""

from __future__ import annotations

from .protocol import (
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

__all__ = [
    "Channel",
    "Chunk",
    "Event",
    "Info",
    "RejectedToolCall",
    "StopReason",
    "TextEvent",
    "Token",
    "TokenEvent",
    "TokenLogprob",
    "ToolCall",
    "ToolCallDelta",
]
