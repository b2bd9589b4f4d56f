"""The drafter contract of speculative decoding: cheap proposals that the model verifies.

A ``Drafter`` is made once per context (``load(..., drafter=...)``); for each generation that
speculates it opens a ``DraftState``, which proposes up to ``limit`` tokens to follow the
sequence so far and learns how many were accepted. The core owns the loop (how many tokens
to ask for, when drafting does not pay, stop handling); the backend's runner verifies the
proposals in one batched step (``BatchRunner.verify``), so the output is exactly what
decoding without drafts would give. Drafters propose deterministic tokens (no distribution):
the runner's acceptance rule relies on that.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable, Sequence

from ..protocol import GenerationParameters


class DraftState(ABC):
    """One generation's drafting state; every method runs on the context's worker thread."""

    @abstractmethod
    def propose(self, tokens: Sequence[int], limit: int) -> Sequence[int]:
        """Up to ``limit`` token ids expected to follow ``tokens`` (the prompt, then every
        generated token so far; a view the core appends to: read it, never keep or mutate
        it). Return fewer, or none, when nothing looks likely."""

    def feedback(self, proposed: int, accepted: int) -> None:  # noqa: B027 - optional
        """After a verification: ``accepted`` of the ``proposed`` tokens were kept."""

    def close(self) -> None:  # noqa: B027 - optional
        """The generation ended (any reason): release per-sequence state (a draft KV cache)."""


class Drafter(ABC):
    """Makes a ``DraftState`` per generation; one per context, used on its worker thread."""

    name: str = ""

    @abstractmethod
    def start(self, prompt: Sequence[int], parameters: GenerationParameters) -> DraftState | None:
        """The state for a new generation of ``prompt``, or None to not draft for it."""

    def close(self) -> None:  # noqa: B027 - optional
        """The context is closing: release models and memory."""


DrafterFactory = Callable[..., Drafter]
"""``factory(backend_model: BackendModel, **options) -> Drafter``; import heavy deps inside it."""
