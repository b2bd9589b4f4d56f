"""What the scripted model and its batch runner share: the scripted cache, the scripted
failure, and the ``Script`` the runner reads its replies and delays from (a protocol, so the
runner does not import the model and the two modules do not import each other)."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Protocol

from lmstream import GenerationParameters, ListPromptCache
from lmstream.backend import TokenConstraint


class ScriptedFailure(RuntimeError):
    """Raised by the scripted model at ``fail_at``, to test error handling."""


class ScriptedCache(ListPromptCache):
    """The scripted 'KV cache': just the token ids the model has seen."""


class ScriptTiming(Protocol):
    """The load options a runner reads each step (``ScriptedOptions`` has them)."""

    @property
    def token_delay(self) -> float: ...
    @property
    def prefill_delay(self) -> float: ...
    @property
    def prefill_parts(self) -> int: ...
    @property
    def fail_at(self) -> int | None: ...


class Script(Protocol):
    """The scripted model as its runner sees it."""

    @property
    def options(self) -> ScriptTiming:
        """Delays and the failing token's index."""
        ...

    def token_source(self, prompt: Sequence[int], constraint: TokenConstraint | None,
                     parameters: GenerationParameters) -> Iterator[int]:
        """The ids one generation produces, in order (its end token included)."""
        ...

    def fails_for(self, prompt: Sequence[int]) -> bool:
        """Whether the generation for ``prompt`` fails at ``options.fail_at``."""
        ...
