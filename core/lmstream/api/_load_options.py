"""The load options the core and the scheduler read (``load(..., tool_parser=..., max_batch_size=...)``).

``load`` routes its keyword options by these models' field sets: the core's, then the
scheduler's, and whatever is left goes to the backend (whose ``BackendOptions`` refuses the
names it does not know). Each option is validated here once, with an error naming it.
"""

from __future__ import annotations

from typing import Any, ClassVar

from pydantic import Field, field_validator

from ..model import LoadOptions
from ..scheduling import DEFAULT_CHECKPOINT_TOKENS, DEFAULT_CHECKPOINTS, DEFAULT_PREFILL_CHUNK_S

DEFAULT_MAX_BUFFERED_EVENTS = 4096
"""Unread events at which a stream's sequence pauses until its consumer reads."""


class CoreLoadOptions(LoadOptions):
    """Options the core keeps (in ``ModelInfo.options``) instead of passing to the backend:
    each overrides what the model's metadata implies."""

    kind: ClassVar[str] = "load"

    tool_parser: str | None = None
    """Tool-call parser name for every generation of this model ('none' disables parsing)."""
    chat_template: str | None = None
    """Chat template: a registered name, one of the model's templates, a file or Jinja text."""
    reasoning_markers: tuple[str, str] | None = None
    """The model's reasoning format, e.g. ``("<think>", "</think>")``."""

    @field_validator("reasoning_markers", mode="before")
    @classmethod
    def _pair_as_tuple(cls, value: Any) -> Any:
        return tuple(value) if isinstance(value, list) else value

    @field_validator("reasoning_markers")
    @classmethod
    def _two_different_markers(cls, value: tuple[str, str] | None) -> tuple[str, str] | None:
        if value is not None and (not value[0] or not value[1] or value[0] == value[1]):
            raise ValueError("must be two different non-empty strings (start, end)")
        return value

    @field_validator("tool_parser", "chat_template")
    @classmethod
    def _not_blank(cls, value: str | None) -> str | None:
        from ..protocol import check_text

        if value is not None and not value.strip():
            raise ValueError("must be a non-empty string")
        check_text(value, "the value")
        return value

    def for_model_info(self) -> dict[str, Any]:
        """The options given (None ones dropped), as ``ModelInfo.options`` holds them."""
        return self.model_dump(exclude_none=True)


class SchedulerOptions(LoadOptions):
    """The scheduler's load options (``load(..., batching=..., max_batch_size=...)``)."""

    kind: ClassVar[str] = "scheduler"

    batching: bool = True
    """False: one generation at a time through the backend's ``token_iterator``."""
    max_batch_size: int | None = Field(None, ge=1)
    """Sequences decoded together at most (None: the backend's default)."""
    max_buffered_events: int = Field(DEFAULT_MAX_BUFFERED_EVENTS, ge=1)
    """Unread events at which a stream's sequence pauses until its consumer reads."""
    prefill_chunk_s: float = Field(DEFAULT_PREFILL_CHUNK_S, gt=0, lt=3600)
    """Target seconds per prefill chunk (bounds how long a prompt holds up running streams)."""
    prefix_cache_bytes: int | None = Field(None, ge=0)
    """Budget of the prefix cache shared across generations (0: off; None: 10% of physical
    memory, at most 4 GiB; see docs/prefix-cache.md)."""
    prefix_cache_checkpoint_tokens: int = Field(DEFAULT_CHECKPOINT_TOKENS, ge=0)
    """Tokens (of prompt or answer) between two checkpoints of a cache that cannot trim
    (rotating, quantized, hybrid/SSM); 0: only the end of the prompt and of the answer."""
    prefix_cache_checkpoints: int = Field(DEFAULT_CHECKPOINTS, ge=1)
    """Checkpoints (entries that cannot trim) kept per conversation; the oldest go first."""

