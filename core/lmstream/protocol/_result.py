"""GenerationResult: what the buffered ``ModelContext.generate`` collects from a stream."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from ._events import Chunk, Info, RejectedToolCall, StopReason, ToolCall


@dataclass(frozen=True)
class GenerationResult:
    """The collected output of one generation."""

    prompt_tokens: int
    """Tokens in the prompt (prefilled + reused from the cache)."""
    generated_tokens: int
    """Tokens the model generated (a stop token included)."""
    text: str
    """The content text (reasoning excluded)."""
    tool_calls: list[ToolCall]
    info: Info
    reasoning: str = ""
    """Text of the reasoning channel (``<think>`` blocks)."""
    rejected_tool_calls: list[RejectedToolCall] = field(default_factory=list)
    token_ids: tuple[int, ...] = ()
    """The ids of the content and reasoning chunks, in order."""
    parsed: Any = None
    """With a JSON ``response_format``: the content parsed (a model / dataclass instance for a
    class, else the loaded JSON); None otherwise or when the generation did not end with stop."""

    @property
    def stop_reason(self) -> StopReason:
        """Why the generation ended."""
        return self.info.stop_reason

    @property
    def stats(self) -> Any:
        """The GenerationStats of the final Info."""
        return self.info.stats


def collect_result(events: Iterable[Any]) -> GenerationResult:
    """Drain a decoded stream into a GenerationResult (the only thing ``generate`` does)."""
    content: list[str] = []
    reasoning: list[str] = []
    calls: list[ToolCall] = []
    rejected: list[RejectedToolCall] = []
    ids: list[int] = []
    info: Info | None = None
    for event in events:
        kind = type(event)
        if kind is Chunk:
            (reasoning if event.channel == "reasoning" else content).append(event.text)
            ids.extend(event.tokens)
        elif kind is ToolCall:
            calls.append(event)
        elif kind is RejectedToolCall:
            rejected.append(event)
        elif kind is Info:
            info = event
    assert info is not None, "a stream always ends with Info"
    stats = info.stats
    return GenerationResult(
        prompt_tokens=stats.prompt_tokens + stats.cached_prompt_tokens,
        generated_tokens=stats.generated_tokens,
        text="".join(content),
        tool_calls=calls,
        info=info,
        reasoning="".join(reasoning),
        rejected_tool_calls=rejected,
        token_ids=tuple(ids),
    )
