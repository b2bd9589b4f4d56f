"""One generation inside the scheduler: its plan, its per-token handling and its single Info.

The scheduler feeds an ``ActiveSequence`` the backend's step results; the sequence runs the
pipeline (stop tokens, detokenizer, stop strings, reasoning, tool parser), delivers events to
its channel and observers, and ends exactly once with ``Info`` (stop, length, cancelled, error)
whatever a backend, a pipeline stage or an observer raises.
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Callable, Hashable, Iterable
from dataclasses import dataclass
from typing import Any

from ..hooks import ObserverSet
from ..model import GenerationControl, PromptCache, SequenceRequest, StepResult, TokenConstraint
from ..pipeline import DecodedPipeline
from ..protocol import (
    EventChannel,
    GenerationParameters,
    Info,
    StopReason,
    TimingRecorder,
    Token,
    TokenLogprob,
    new_token,
)

logger = logging.getLogger("lmstream.sequence")
_clock = time.perf_counter


@dataclass
class SequencePlan:
    """Everything one generation needs, decided (and validated) when the stream was created."""

    channel: EventChannel
    parameters: GenerationParameters
    prompt: tuple[int, ...]
    """The prompt's token ids (empty for user iterators, which bring their own tokens)."""
    stop_ids: frozenset[int]
    max_tokens: float
    """The token limit, computed and validated once by the core (``max_tokens`` capped by the
    context window); the runner reads it as ``control.max_tokens``."""
    prompt_tokens: int
    """Tokens in the prompt (prefilled + cached): positions count from here."""
    observers: ObserverSet
    cache: PromptCache | None = None
    pipeline: Callable[[], DecodedPipeline] | None = None
    """None for token streams."""
    include_stop_token: bool = False
    on_prefill_progress: Callable[[int, int], None] | None = None
    iterator: Callable[[GenerationControl], Iterable[Any]] | None = None
    """A user's token iterator (``generate_token_task``): runs outside the backend's batch."""
    constraint: TokenConstraint | None = None
    """The structured-output constraint; the runner reads it as ``control.constraint``."""


class ActiveSequence:
    """A generation admitted by the scheduler, from its first event to its one Info."""

    __slots__ = ("_times", "channel", "checkpoint_due", "control", "ended", "generated", "pipeline",
                 "plan", "position", "prefilled", "request", "seq_id", "share_key", "timing")

    def __init__(self, seq_id: int, plan: SequencePlan) -> None:
        self.plan = plan
        self.channel = plan.channel
        self.timing = TimingRecorder()
        self._times = self.timing.token_times
        self.control = GenerationControl(plan.channel.cancel_event, plan.on_prefill_progress,
                                         plan.max_tokens, plan.constraint)
        self.seq_id = seq_id
        """The id the backend's runner knows this sequence by."""
        self.request = SequenceRequest(seq_id, plan.prompt, plan.parameters, plan.cache,
                                       self.control)
        self.pipeline: DecodedPipeline | None = None
        self.generated = 0
        self.position = plan.prompt_tokens
        self.prefilled = False
        self.ended = False
        self.share_key: Hashable | None = None
        """The prefix-cache key when ``request.cache`` came from the prefix cache (then the
        cache is offered back at the end); None for a caller's own cache or none."""
        self.checkpoint_due: float = math.inf
        """When the prefix cache takes its next checkpoint (``_sharing``; infinite: never)."""

    @property
    def cancelled(self) -> bool:
        """True once the consumer cancelled."""
        return self.channel.cancelled

    def start(self) -> StopReason | None:
        """Notify observers and build the pipeline; a reason when the stream ends at once."""
        plan = self.plan
        plan.observers.notify_start()
        if self.cancelled:
            return StopReason.CANCELLED
        if plan.max_tokens <= 0:
            return StopReason.LENGTH
        if plan.pipeline is not None:
            self.pipeline = plan.pipeline()
        return None

    def accept(self, result: StepResult) -> StopReason | None:
        """Handle one step result; the stop reason once this sequence must end, else None."""
        for token_id in result.accepted:  # verified draft tokens come first (speculation)
            reason = self.accept_token(token_id)
            if reason is not None:
                return reason  # what follows a stop is dropped
        if result.error is not None:
            raise result.error
        return self.accept_token(result.token, None if result.logprob is None else result)

    def accept_token(self, token_id: int, scored: StepResult | None = None) -> StopReason | None:
        """Handle one generated token id (``scored``: its result, when it carries logprobs).

        The per-token path: one clock read, the pipeline, one push of what it decided.
        """
        self._times.append(_clock())
        self.generated += 1
        plan = self.plan
        pipeline = self.pipeline
        if pipeline is not None:
            if token_id in plan.stop_ids:
                return StopReason.STOP
            if scored is None:
                events = pipeline.token(token_id)
            else:
                events = pipeline.token_with_logprob(token_id, TokenLogprob(
                    token_id, scored.logprob, scored.top_logprobs or ()))  # type: ignore[arg-type]
            if events:
                observers = plan.observers
                if observers.wants_events:
                    for event in events:
                        observers.notify_event(event)
                self.channel.push(events)
            if pipeline.stopped:
                return StopReason.STOP
        else:
            self.position += 1
            if token_id in plan.stop_ids:
                if plan.include_stop_token:
                    self._deliver([self._token(token_id, scored)], plan.observers)
                return StopReason.STOP
            self._deliver([self._token(token_id, scored)], plan.observers)
        if self.generated >= plan.max_tokens:
            return StopReason.LENGTH
        if self.channel.cancelled:
            return StopReason.CANCELLED
        return None

    def _token(self, token_id: int, result: StepResult | None) -> Token:
        if result is None or result.logprob is None:
            return new_token(token_id, self.position)
        return new_token(token_id, self.position, result.logprob, result.top_logprobs or ())

    def _deliver(self, events: list[Any], observers: ObserverSet) -> None:
        if observers.wants_events:
            for event in events:
                observers.notify_event(event)
        self.channel.push(events)

    def finish(self, reason: StopReason, error: BaseException | None = None) -> None:
        """End the stream: flush the pipeline, build the stats, notify, push the one Info."""
        if self.ended:
            return
        self.ended = True
        plan = self.plan
        observers = plan.observers
        pipeline = self.pipeline
        stop_sequence = None
        if pipeline is not None:
            try:
                tail = pipeline.finish()
                if tail:
                    self._deliver(tail, observers)
            except BaseException as exc:
                if error is None:
                    reason, error = StopReason.ERROR, exc
            if reason is StopReason.STOP:
                stop_sequence = pipeline.stop_sequence
        control = self.control
        prefilled = control.prefilled_tokens
        if prefilled is None:
            prefilled = control.progress_tokens
        if prefilled is None:
            prefilled = plan.prompt_tokens - control.cached_prompt_tokens
        cached = control.cached_prompt_tokens
        if cached and control.cache_source is None and plan.cache is not None:
            control.cache_source = "cache"
        stats = self.timing.build(
            prompt_tokens=prefilled,
            cached_prompt_tokens=cached,
            cache_source=control.cache_source if cached else None,
            prefill_end=control.prefill_end,
            context_size=plan.prompt_tokens + self.generated,
            memory=control.memory,
            draft_tokens_proposed=control.draft_proposed,
            draft_tokens_accepted=control.draft_accepted,
        )
        info = Info(reason, stats, error, stop_sequence)
        try:
            observers.notify_event(info)
            observers.notify_end(info)
        except BaseException as exc:  # an observer's SystemExit/KeyboardInterrupt: still one Info
            logger.error("an observer raised %s at the end of a generation", type(exc).__name__)
            info = Info(StopReason.ERROR, stats, exc)
        self.pipeline = None
        self.channel.finish(info)
