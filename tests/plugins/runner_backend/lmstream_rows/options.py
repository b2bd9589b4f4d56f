"""The rows backend's load options."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class RowsOptions:
    """Load options: the reply, a delay per step, and a failing step for error tests."""

    reply: str = "Hello from the rows backend."
    token_delay: float = 0.0
    fail_at: int | None = None
    """Step index (0-based) whose result is an error."""
    context_length: int = 4096

    def __post_init__(self) -> None:
        if self.token_delay < 0:
            raise ValueError("token_delay must be >= 0")
        if self.fail_at is not None and self.fail_at < 0:
            raise ValueError("fail_at must be >= 0")
