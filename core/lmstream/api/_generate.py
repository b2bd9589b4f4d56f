"""The five generation APIs (mlx-swift-lm's Evaluate matrix), all run by the context's scheduler.

Creating a stream validates everything and raises on bad input; iterating never raises and
ends with exactly one ``Info``. Every stream works with ``for`` and ``async for``.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Sequence
from typing import Any

from ..errors import ContextLengthError
from ..hooks import GenerationRecord, ObserverSet, ToolParser
from ..model import PromptCache
from ..pipeline import DecodedPipeline, build_constraint
from ..protocol import (
    Event,
    EventStream,
    GenerationParameters,
    GenerationTask,
    LMInput,
    TokenEvent,
    UserInput,
    check_count,
    check_generation_call,
    checked_token_ids,
    resolve_parameters,
)
from ..scheduling import SequencePlan
from ._decisions import TextDecisions, decide
from ._host import GenerationHost


def generate(input: LMInput | UserInput | str, *, parameters: GenerationParameters | dict[str, Any] | None = None,
             context: GenerationHost, cache: PromptCache | None = None,
             observers: Sequence[object] | None = None) -> EventStream[Event]:
    """Stream Chunk, ToolCall, RejectedToolCall events, then Info, as they are decoded.

    ``lmstream.generate`` streams; ``ModelContext.generate`` is the buffered call that waits
    for the end and returns one ``GenerationResult``."""
    return generate_task(input, parameters=parameters, context=context, cache=cache, observers=observers)[0]


def generate_task(input: LMInput | UserInput | str, *,
                  parameters: GenerationParameters | dict[str, Any] | None = None,
                  context: GenerationHost, cache: PromptCache | None = None,
                  observers: Sequence[object] | None = None,
                  on_prefill_progress: Callable[[int, int], None] | None = None,
                  ) -> tuple[EventStream[Event], GenerationTask]:
    """Like ``generate``, plus a task handle for deterministic early stop and the final Info."""
    _check_context(context)
    check_generation_call(context, input)
    params = resolve_parameters(parameters, {})
    lm_input = _prepare(context, input, params)
    limit = _token_limit(context, params, len(lm_input.tokens))
    decisions = decide(context, params, lm_input, limit=limit)
    parser = _tool_parser(context, decisions, lm_input)
    tokenizer = context.tokenizer
    prompt_len = len(lm_input.tokens)

    def make_pipeline() -> DecodedPipeline:
        return DecodedPipeline(tokenizer, params, position=prompt_len, parser=parser,
                               starts_in_reasoning=decisions.starts_in_reasoning,
                               reasoning_markers=decisions.reasoning_markers)

    return _start(context, lm_input, params, cache, observers, "decoded", make_pipeline,
                  limit=limit, on_prefill_progress=on_prefill_progress, decisions=decisions)


def generate_tokens(input: LMInput | UserInput | str, *,
                    parameters: GenerationParameters | dict[str, Any] | None = None,
                    context: GenerationHost, cache: PromptCache | None = None,
                    observers: Sequence[object] | None = None,
                    include_stop_token: bool = False) -> EventStream[TokenEvent]:
    """Stream raw Token events, then Info; stops on stop tokens and max_tokens."""
    return generate_tokens_task(input, parameters=parameters, context=context, cache=cache,
                                observers=observers, include_stop_token=include_stop_token)[0]


def generate_tokens_task(input: LMInput | UserInput | str, *,
                         parameters: GenerationParameters | dict[str, Any] | None = None,
                         context: GenerationHost, cache: PromptCache | None = None,
                         observers: Sequence[object] | None = None,
                         include_stop_token: bool = False,
                         ) -> tuple[EventStream[TokenEvent], GenerationTask]:
    """Like ``generate_tokens``, plus a task handle (the model's tokens for an input; compare
    ``generate_token_task``, which streams a caller's own iterator of token ids)."""
    _check_context(context)
    check_generation_call(context, input, include_stop_token)
    params = resolve_parameters(parameters, {})
    if params.stop:
        raise ValueError("stop strings need decoded text: use generate() for parameters.stop, "
                         "or stop_token_ids with token streams")
    lm_input = _prepare(context, input, params)
    return _start(context, lm_input, params, cache, observers, "tokens", None,
                  limit=_token_limit(context, params, len(lm_input.tokens)),
                  include_stop_token=include_stop_token)


def generate_token_task(*, prompt_token_count: int, context: GenerationHost, iterator: Iterable[int],
                        include_stop_token: bool = False,
                        parameters: GenerationParameters | dict[str, Any] | None = None,
                        observers: Sequence[object] | None = None,
                        ) -> tuple[EventStream[TokenEvent], GenerationTask]:
    """Stream Token events from any user iterator of token ids (run on the context's worker).

    The model is not called: the caller's iterator is (compare ``generate_tokens_task``, the
    model's tokens for an input).

    Stops on the tokenizer's EOS set and ``stop_token_ids``, on ``max_tokens`` (unlimited unless
    ``parameters`` says so), on cancel, or when the iterator ends (``stop``).
    """
    _check_context(context)
    check_generation_call(context, None, include_stop_token)
    check_count(prompt_token_count, "prompt_token_count")
    if not isinstance(iterator, Iterable):
        raise TypeError(f"iterator must be an iterable of token ids, got {type(iterator).__name__}")
    params = resolve_parameters(parameters, {}) if parameters is not None else GenerationParameters(max_tokens=None)
    if params.stop:
        raise ValueError("stop strings need decoded text: use generate() for parameters.stop, "
                         "or stop_token_ids with token streams")
    channel = context.new_channel()
    record = GenerationRecord(model=context.info, parameters=params, prompt_tokens=prompt_token_count, kind="tokens")
    plan = SequencePlan(
        channel=channel,
        parameters=params,
        prompt=(),
        stop_ids=context.stop_token_ids(params),
        max_tokens=params.max_tokens if params.max_tokens is not None else math.inf,
        prompt_tokens=prompt_token_count,
        observers=ObserverSet(record, context.plugin_system, observers),
        include_stop_token=include_stop_token,
        iterator=lambda control: checked_token_ids(iterator),
    )
    context.submit(plan)
    return EventStream(channel), GenerationTask(channel)


# -- shared machinery ---------------------------------------------------------------------
def _check_context(context: object) -> None:
    """``context`` must be a GenerationHost (not None, not a model name): a TypeError naming it."""
    if not isinstance(context, GenerationHost):
        raise TypeError(f"context must be a ModelContext from lmstream.load(), "
                        f"not {type(context).__name__}")


def _prepare(context: GenerationHost, input: LMInput | UserInput | str,
             params: GenerationParameters | None = None) -> LMInput:
    if isinstance(input, LMInput):
        return input
    if isinstance(input, str):
        input = UserInput(prompt=input)
    if isinstance(input, UserInput):
        return context.prepare(input, parameters=params)
    raise TypeError(f"input must be LMInput, UserInput or str, not {type(input).__name__}")


def _tool_parser(context: GenerationHost, decisions: TextDecisions, lm_input: LMInput) -> ToolParser | None:
    """A fresh parser of the decided format, when calls are parsed at all."""
    if not decisions.parse_tool_calls or decisions.tool_format is None:
        return None
    factory = context.plugin_system.tool_parsers.get(decisions.tool_format)
    return factory(list(lm_input.tools) if lm_input.tools else None)


def _start(context: GenerationHost, lm_input: LMInput, params: GenerationParameters,
           cache: PromptCache | None, observers: Sequence[object] | None, kind: str,
           make_pipeline: Callable[[], DecodedPipeline] | None, *, limit: float,
           include_stop_token: bool = False,
           on_prefill_progress: Callable[[int, int], None] | None = None,
           decisions: TextDecisions | None = None,
           ) -> tuple[EventStream[Any], GenerationTask]:
    """Validate against the backend, build the constraint from the decisions, submit the plan
    (``limit``: the token limit, computed once by the caller and carried in the plan)."""
    prompt = lm_input.tokens
    if cache is not None and not isinstance(cache, PromptCache):
        raise TypeError(f"cache must be a PromptCache from context.new_cache(), not {type(cache).__name__}")
    context.backend_model.validate(prompt, params)
    if decisions is None:  # token streams: the same decisions, parsing aside
        decisions = decide(context, params, lm_input, limit=limit)
    constraint = build_constraint(context, params, lm_input, tool_format=decisions.tool_format,
                                  reasoning_markers=decisions.reasoning_markers,
                                  in_reasoning=decisions.starts_in_reasoning,
                                  reasoning_budget=decisions.reasoning_budget)
    record = GenerationRecord(model=context.info, parameters=params, prompt_tokens=len(prompt), kind=kind)
    observer_set = ObserverSet(record, context.plugin_system, observers)
    channel = context.new_channel()
    plan = SequencePlan(
        channel=channel,
        parameters=params,
        prompt=tuple(prompt),
        stop_ids=context.stop_token_ids(params),
        max_tokens=limit,
        prompt_tokens=len(prompt),
        observers=observer_set,
        cache=cache,
        pipeline=make_pipeline,
        include_stop_token=include_stop_token,
        on_prefill_progress=on_prefill_progress,
        constraint=constraint,
    )
    context.submit(plan)
    return EventStream(channel), GenerationTask(channel)


def _token_limit(context: GenerationHost, params: GenerationParameters, prompt_len: int) -> float:
    """max_tokens, capped by the room left in the context window (unless the cache rotates).

    The one place the token limit is computed: it travels as ``SequencePlan.max_tokens`` to
    ``GenerationControl.max_tokens``, which runners read; no backend recomputes it."""
    limit: float = params.max_tokens if params.max_tokens is not None else math.inf
    window = context.info.context_length
    if window is not None and params.max_kv_size is None:
        if prompt_len >= window:
            raise ContextLengthError(
                f"prompt has {prompt_len} tokens but model {context.info.name!r} has a context of "
                f"{window} tokens; shorten the prompt or pass max_kv_size for a rotating cache"
            )
        limit = min(limit, window - prompt_len)
    return limit
