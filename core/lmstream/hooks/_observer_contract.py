"""The observer contract: what an observer is told about a generation (``GenerationRecord``)
and the base class of per-call observers (``Observer``)."""

from __future__ import annotations

import itertools
import time
from dataclasses import dataclass, field
from typing import Any

from ..model import ModelInfo
from ..protocol import Event, GenerationParameters, Info, Token

_ids = itertools.count(1)


@dataclass
class GenerationRecord:
    """What observers are told about a generation; ``extra`` is theirs to annotate."""

    model: ModelInfo
    parameters: GenerationParameters
    prompt_tokens: int
    kind: str = "decoded"
    """``"decoded"`` (Chunk/ToolCall events) or ``"tokens"`` (Token events)."""
    id: int = field(default_factory=lambda: next(_ids))
    started_at: float = field(default_factory=time.time)
    extra: dict[str, Any] = field(default_factory=dict)


class Observer:
    """Base class for per-call observers; override any of the three methods."""

    def on_start(self, generation: GenerationRecord) -> None:
        """A generation started."""

    def on_event(self, generation: GenerationRecord, event: Event | Token) -> None:
        """An event is about to be delivered to the consumer."""

    def on_end(self, generation: GenerationRecord, info: Info) -> None:
        """The generation ended with ``info``."""


def implements(observer: object, method: str) -> bool:
    """True when ``observer`` has a real ``method`` (not Observer's no-op default)."""
    impl = getattr(type(observer), method, None)
    if impl is None:
        return callable(getattr(observer, method, None))
    return impl is not getattr(Observer, method, None)
