"""The producer loop: pulls token ids from a backend iterator on the worker thread, runs the
pipeline, delivers events, and always ends with exactly one Info (stop, length, cancelled, error).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from .backend import GenerationControl
from .events import Info, StopReason, Token
from .observing import ObserverSet
from .pipeline import DecodedPipeline
from .streams import Channel
from .timing import TimingRecorder

logger = logging.getLogger("lmstream.producer")


@dataclass
class ProducerPlan:
    """Everything one producer run needs, decided (and validated) when the stream was created."""

    channel: Channel
    make_iterator: Callable[[GenerationControl], Iterable[int]]
    stop_ids: frozenset[int]
    max_tokens: float
    prompt_tokens: int
    """Tokens in the prompt (prefilled + cached): positions count from here."""
    observers: ObserverSet
    pipeline: Callable[[], DecodedPipeline] | None = None
    """None for token streams."""
    include_stop_token: bool = False
    on_prefill_progress: Callable[[int, int], None] | None = None


def run(plan: ProducerPlan) -> None:
    """Run one generation to its end on the current (worker) thread."""
    channel = plan.channel
    cancel = channel.cancel_event
    timing = TimingRecorder()
    control = GenerationControl(cancel, plan.on_prefill_progress)
    observers = plan.observers
    reason: StopReason | None = None
    error: BaseException | None = None
    iterator: Iterable[int] | None = None
    pipeline: DecodedPipeline | None = None
    observers.notify_start()
    try:
        if cancel.is_set():
            reason = StopReason.CANCELLED
        elif plan.max_tokens <= 0:
            reason = StopReason.LENGTH
        else:
            pipeline = plan.pipeline() if plan.pipeline is not None else None
            iterator = plan.make_iterator(control)
            if pipeline is not None:
                reason = _decode_loop(plan, iterator, pipeline, timing, observers)
            else:
                reason = _token_loop(plan, iterator, timing, observers)
    except BaseException as exc:
        reason, error = StopReason.ERROR, exc
        logger.debug("generation failed", exc_info=exc)
    finally:
        _close(iterator)
        if pipeline is not None:
            try:
                tail = pipeline.finish()
            except BaseException as exc:
                tail = []
                if error is None:
                    reason, error = StopReason.ERROR, exc
            if tail:
                _deliver(channel, observers, tail)
        generated = len(timing.token_times)
        prefilled = control.prefilled_tokens
        if prefilled is None:
            prefilled = plan.prompt_tokens - control.cached_prompt_tokens
        stats = timing.build(
            prompt_tokens=prefilled,
            cached_prompt_tokens=control.cached_prompt_tokens,
            prefill_end=control.prefill_end,
            context_size=plan.prompt_tokens + generated,
            memory=control.memory,
        )
        info = Info(reason or StopReason.STOP, stats, error)
        observers.notify_event(info)
        observers.notify_end(info)
        channel.finish(info)


def _deliver(channel: Channel, observers: ObserverSet, events: list[Any]) -> None:
    if observers.wants_events:
        for event in events:
            observers.notify_event(event)
    channel.push(events)


def _decode_loop(plan: ProducerPlan, iterator: Iterable[int], pipeline: DecodedPipeline,
                 timing: TimingRecorder, observers: ObserverSet) -> StopReason:
    cancel = plan.channel.cancel_event
    stop_ids = plan.stop_ids
    limit = plan.max_tokens
    times = timing.token_times
    clock = time.perf_counter
    push = plan.channel.push
    notify = observers.notify_event if observers.wants_events else None
    step = pipeline.token
    generated = 0
    for token_id in iterator:
        times.append(clock())
        generated += 1
        if token_id in stop_ids:
            return StopReason.STOP
        events = step(token_id)
        if events:
            if notify is not None:
                for event in events:
                    notify(event)
            push(events)
        if pipeline.stopped:
            return StopReason.STOP
        if generated >= limit:
            return StopReason.LENGTH
        if cancel.is_set():
            return StopReason.CANCELLED
    return StopReason.CANCELLED if cancel.is_set() else StopReason.STOP


def _token_loop(plan: ProducerPlan, iterator: Iterable[int], timing: TimingRecorder,
                observers: ObserverSet) -> StopReason:
    cancel = plan.channel.cancel_event
    stop_ids = plan.stop_ids
    limit = plan.max_tokens
    times = timing.token_times
    clock = time.perf_counter
    push = plan.channel.push
    notify = observers.notify_event if observers.wants_events else None
    position = plan.prompt_tokens
    generated = 0
    for token_id in iterator:
        if not isinstance(token_id, int):
            token_id = _as_token_id(token_id)
        times.append(clock())
        generated += 1
        position += 1
        if token_id in stop_ids:
            if plan.include_stop_token:
                event = Token(token_id, position)
                if notify is not None:
                    notify(event)
                push([event])
            return StopReason.STOP
        event = Token(token_id, position)
        if notify is not None:
            notify(event)
        push([event])
        if generated >= limit:
            return StopReason.LENGTH
        if cancel.is_set():
            return StopReason.CANCELLED
    return StopReason.CANCELLED if cancel.is_set() else StopReason.STOP


def _as_token_id(value: Any) -> int:
    """Accept ints and int-like scalars (numpy / mlx 0-d arrays) from user iterators."""
    try:
        return int(value)
    except (TypeError, ValueError):
        raise TypeError(f"token iterator yielded {value!r}, which is not a token id (int)") from None


def _close(iterator: Iterable[int] | None) -> None:
    close = getattr(iterator, "close", None)
    if close is None:
        return
    try:
        close()
    except Exception:
        logger.exception("closing the token iterator failed")


