"""The compute contract between the core and a backend: add sequences, prefill them in chunks,
step them together.

``BatchRunner`` is what a backend implements (``BackendModel.new_batch_runner``). The
context's scheduler (core) owns the loop: it admits sequences between decode steps, prefills
one chunk at a time (interleaved with decode steps), steps every ready sequence in one
``BatchRunner.step`` call, and removes a sequence the moment it stops. A single stream is a
runner with one row. A simple backend may implement only ``BackendModel.token_iterator``
instead: the core runs it through an adapter, one sequence at a time (``lmstream.scheduling``).
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from ..protocol import GenerationParameters
from ..protocol import fast_frozen_init as _fast_frozen_init
from ._cache import PromptCache
from ._control import GenerationControl, TokenConstraint


class SequenceRequest:
    """One generation as a runner sees it (made by the core, handed to ``add``)."""

    __slots__ = ("cache", "control", "parameters", "prompt", "seq_id")

    def __init__(self, seq_id: int, prompt: tuple[int, ...], parameters: GenerationParameters,
                 cache: PromptCache | None, control: GenerationControl,
                 constraint: TokenConstraint | None = None) -> None:
        self.seq_id = seq_id
        """Unique within the runner; results name it."""
        self.prompt = prompt
        """The whole prompt's token ids (the runner reuses ``cache``'s common prefix)."""
        self.parameters = parameters
        """Per-sequence sampling: temperature, top_p, top_k, min_p, seed, penalties, logit_bias."""
        self.cache = cache
        """The caller's prompt cache: after ``remove`` it holds exactly the tokens fed to the model."""
        self.control = control
        """Cancel flag, the token limit (``control.max_tokens``), the constraint
        (``control.constraint``), prefill marks and memory figures."""
        if constraint is not None:  # the older call shape: the constraint lives on the control
            control.constraint = constraint

    @property
    def constraint(self) -> TokenConstraint | None:
        """The structured-output constraint (``control.constraint``: stored there only)."""
        return self.control.constraint

    @property
    def max_tokens(self) -> float:
        """The token limit the core computed once (``control.max_tokens``)."""
        return self.control.max_tokens

    def __repr__(self) -> str:
        return (f"SequenceRequest(seq_id={self.seq_id}, prompt=<{len(self.prompt)} ids>, "
                f"cache={type(self.cache).__name__ if self.cache is not None else None})")


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


VERIFY_CALL_POSITIONS = 10.0
"""A runner call's cost beyond its positions, in positions (a decode step reads every weight
once however many positions it feeds): ``BatchRunner.verify_cost``'s default."""


def packed_verify_cost(lengths: Sequence[int]) -> float:
    """``BatchRunner.verify_cost``'s default: one call feeding each row its token and drafts."""
    return VERIFY_CALL_POSITIONS + sum(1 + d for d in lengths)


class BatchRunner(ABC):
    """A backend's decode state for every running sequence: the compute contract.

    Every method runs on the context's worker thread. The runner owns compute (KV cache,
    sampler, the constraint's masks on the logits); the core owns everything after the token
    id. The core stops stepping a sequence at a stop token, a stop string,
    ``control.max_tokens`` or a cancel, then calls ``remove``.
    """

    max_batch_size: int = 8
    """Sequences the runner steps together at most; the scheduler never admits more."""
    max_draft_tokens: int = 0
    """Draft tokens per sequence ``verify`` can score in one step; 0 (the default): the
    runner cannot verify drafts and the core never speculates with it."""
    shares_prefill: bool = False
    """Whether ``prefill_many`` prefills several sequences in shared model calls; False (the
    default): the core prefills one sequence at a time and never calls it."""
    interrupt: Callable[[], bool] | None = None
    """Set by the scheduler: True while the running ``prefill`` chunk should stop early (work
    waits for the worker, such as a newcomer, or the chunk has run well past its time). A runner
    that can stop part-way (the MLX runner on CPU: between decoder layers) returns from
    ``prefill`` with no new progress and goes on where it stopped at that sequence's next
    ``prefill`` (whatever its ``max_tokens``); ``remove`` drops an unfinished chunk. Others
    ignore it: a chunk is then one indivisible call, as before."""

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

    def prefill_many(self, seq_ids: Sequence[int], max_tokens: Sequence[int]) -> list[bool]:
        """Prefill the next ``max_tokens[i]`` prompt tokens of each ``seq_ids[i]`` together
        (one set of model calls for a burst of short prompts); one ``prefill`` result per id,
        in order. Called only when ``shares_prefill``; if it raises, the core prefills the
        same sequences one by one with ``prefill``. The default does exactly that."""
        return [self.prefill(seq_id, count) for seq_id, count in zip(seq_ids, max_tokens, strict=True)]

    def first_token_ready(self, seq_id: int) -> bool:
        """Whether the prefilled sequence's first token is already sampled (the last prefill
        chunk computed it), so its first ``step`` only reads it: the core then steps it alone
        at once instead of in the next batched step of the others. The default: False."""
        return False

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

    def verify_cost(self, lengths: Sequence[int]) -> float:
        """What one ``verify`` call costs where row ``i`` carries ``lengths[i]`` drafts, in
        decode positions (a plain step of n rows: ``verify_cost([0] * n)``). The core weighs
        expected accepted tokens against it to decide, step by step, whether drafts are worth
        verifying. The default: one packed call, ``VERIFY_CALL_POSITIONS`` plus one position
        per row and draft token; a runner that pads or splits rows reports its own."""
        return packed_verify_cost(lengths)

    @abstractmethod
    def remove(self, seq_id: int) -> None:
        """The sequence ended (any reason): free its slot and leave its prompt cache consistent."""

    def close(self) -> None:  # noqa: B027 - optional
        """Release everything (the context is closing)."""


_fast_frozen_init(StepResult)  # built once per token per sequence: fill slots directly
