"""The batched backend contract: add sequences, prefill them in chunks, step them together.

The context's scheduler (core) owns the loop: it admits sequences between decode steps,
prefills one chunk at a time (interleaved with decode steps), steps every ready sequence in
one ``BatchRunner.step`` call, and removes a sequence the moment it stops. A backend that
only implements ``BackendModel.token_iterator`` is run through an adapter, one sequence at
a time (see ``lmstream.scheduling``).
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from ..protocol import GenerationParameters
from ..protocol import fast_frozen_init as _fast_frozen_init
from ._cache import PromptCache
from ._control import GenerationControl


@dataclass
class SequenceRequest:
    """One generation as a batching backend sees it (made by the core, handed to ``add``)."""

    seq_id: int
    """Unique within the runner; results name it."""
    prompt: tuple[int, ...]
    """The whole prompt's token ids (the runner reuses ``cache``'s common prefix)."""
    parameters: GenerationParameters
    """Per-sequence sampling: temperature, top_p, top_k, min_p, seed, penalties, logit_bias."""
    cache: PromptCache | None
    """The caller's prompt cache: after ``remove`` it holds exactly the tokens fed to the model."""
    control: GenerationControl
    """Cancel flag, token limit (``control.max_tokens``), prefill marks and memory figures."""
    constraint: Any = None
    """A structured-output constraint (token masks), or None."""


class SequenceEnded(Exception):
    """Put in ``StepResult.error`` when the backend has no more tokens for a sequence (a
    scripted reply without EOS, an iterator that ended): the stream ends with ``stop``
    (``cancelled`` if the consumer had cancelled)."""


@dataclass(frozen=True, slots=True)
class StepResult:
    """One sequence's outcome of one decode step: the sampled token, or the error it hit.

    ``logprob`` / ``top_logprobs`` are filled when the sequence's parameters ask for them.
    """

    seq_id: int
    token: int = -1
    logprob: float | None = None
    top_logprobs: tuple[tuple[int, float], ...] | None = None
    error: BaseException | None = None
    """Set when only this sequence failed (its sampling, say); the others carry on."""
    accepted: tuple[int, ...] = ()
    """Only from ``BatchRunner.verify``: the draft tokens verified and accepted, in order,
    which come before ``token`` (the token sampled after them: a correction or a bonus)."""


class BatchRunner(ABC):
    """A backend's batched decode state; every method runs on the context's worker thread."""

    max_batch_size: int = 8
    """Sequences the runner steps together at most; the scheduler never admits more."""
    max_draft_tokens: int = 0
    """Draft tokens per sequence ``verify`` can score in one step; 0 (the default): the
    runner cannot verify drafts and the core never speculates with it."""

    @abstractmethod
    def add(self, request: SequenceRequest) -> None:
        """Take a new sequence: check its input, set up its sampler, reuse its cache's prefix.

        Record the reused prefix with ``request.control.mark_prefill_done`` once prefill ends
        (``cached`` = tokens reused). Raise on bad input: the scheduler ends that stream with
        ``Info(error)``.
        """

    @abstractmethod
    def prefill(self, seq_id: int, max_tokens: int) -> bool:
        """Prefill up to ``max_tokens`` more prompt tokens of one sequence.

        Returns True once the prompt is fully prefilled and the sequence can be stepped. The
        scheduler interleaves these chunks with decode steps and checks cancels between them.
        """

    @abstractmethod
    def step(self, seq_ids: Sequence[int]) -> list[StepResult]:
        """One decode step of these prefilled sequences together; one result per id, in order.

        ``seq_ids`` may be a subset of the sequences added (a paused consumer's sequence is
        skipped until read). The first step of a sequence samples from its prompt's logits.
        """

    def verify(self, seq_ids: Sequence[int], drafts: Sequence[Sequence[int]]) -> list[StepResult]:
        """One decode step that also scores each sequence's draft tokens (speculative decoding).

        ``drafts[i]`` (possibly empty, at most ``max_draft_tokens``) are proposed continuations
        of ``seq_ids[i]``. The runner feeds each row its pending token plus its drafts in one
        forward pass, accepts the longest prefix of the drafts that its sampler agrees with
        (greedy: exact match; sampling: accept draft ``x`` with probability ``p(x)`` and on a
        rejection sample from ``p`` with ``x`` removed, so the output distribution is exactly
        that of ``step``), applies a structured-output constraint at every verified position,
        drops the rejected tail from the row's KV, and returns one ``StepResult`` per id in
        order: ``accepted`` the accepted drafts, ``token`` the token sampled after them. With
        every draft empty it equals ``step``. Only called when ``max_draft_tokens > 0``.
        """
        raise NotImplementedError(f"{type(self).__name__} cannot verify draft tokens")

    @abstractmethod
    def remove(self, seq_id: int) -> None:
        """The sequence ended (any reason): free its slot and leave its prompt cache consistent."""

    def close(self) -> None:  # noqa: B027 - optional
        """Release everything (the context is closing)."""


_fast_frozen_init(StepResult)  # built once per token per sequence: fill slots directly
