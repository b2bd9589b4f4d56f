"""Starting generations for a request, and what every API does with their events.

A stream is created on a worker thread (template rendering and tokenization stay off the event
loop) and consumed with ``async for``; creation errors become 400s (``context_length_exceeded``
for a prompt too long) before any byte of the response is sent.
"""

from __future__ import annotations

import asyncio
import json
import secrets
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

from pydantic import ValidationError

from lmstream import (
    Chunk,
    ContextLengthError,
    Event,
    EventStream,
    GenerationParameters,
    Info,
    LMInput,
    RejectedToolCall,
    StopReason,
    TemplateError,
    ToolCall,
    ToolCallDelta,
    UnknownNameError,
    UserInput,
    generate,
)

from .errors import APIError, from_validation
from .state import ServedModel, ServerState


def new_id(prefix: str) -> str:
    """A random id with an API's prefix (``chatcmpl-``, ``msg_``, ``resp_``, ``call_``...)."""
    return f"{prefix}{secrets.token_hex(12)}"


def parameters_supported(name: str) -> bool:
    """Whether the core's GenerationParameters knows ``name`` (structured output lands later)."""
    return name in GenerationParameters.model_fields


def build_parameters(values: dict[str, Any], param_names: dict[str, str] | None = None) -> GenerationParameters:
    """GenerationParameters from ``values``; an invalid one is a 400 naming the request field."""
    try:
        return GenerationParameters(**values)
    except ValidationError as exc:
        error = from_validation(exc)
        if param_names and error.param in param_names:
            error.param = param_names[error.param]
        raise error from None


async def prepare(served: ServedModel, user_input: UserInput | LMInput) -> LMInput:
    """Render and tokenize on a thread; bad input (template, tools, empty prompt) is a 400."""
    if isinstance(user_input, LMInput):
        return user_input
    try:
        return await asyncio.to_thread(served.context.prepare, user_input)
    except ValidationError as exc:
        raise from_validation(exc) from None
    except (UnknownNameError, TemplateError, ValueError, TypeError) as exc:
        raise APIError(400, str(exc), code="invalid_request") from None


async def open_stream(state: ServerState, served: ServedModel, user_input: UserInput | LMInput,
                      params: GenerationParameters) -> EventStream[Event]:
    """Start one generation; creation errors are API errors (nothing generated yet)."""
    context = served.context
    lm_input = await prepare(served, user_input)

    def create() -> EventStream[Event]:
        return generate(lm_input, parameters=params, context=context, observers=[state.metrics.observer])

    try:
        return await asyncio.to_thread(create)
    except ContextLengthError as exc:
        raise APIError(400, str(exc), param="messages", code="context_length_exceeded") from None
    except ValidationError as exc:
        raise from_validation(exc) from None
    except (UnknownNameError, TemplateError, ValueError, TypeError) as exc:
        raise APIError(400, str(exc), code="invalid_request") from None


async def open_streams(state: ServerState, served: ServedModel, user_input: UserInput | LMInput,
                       params: GenerationParameters, n: int) -> list[EventStream[Event]]:
    """``n`` generations of one input (``n`` > 1 with a seed: seed, seed+1, ...)."""
    lm_input = await prepare(served, user_input)
    streams: list[EventStream[Event]] = []
    try:
        for index in range(n):
            choice_params = params
            if index and params.seed is not None:
                choice_params = params.with_overrides(seed=params.seed + index)
            streams.append(await open_stream(state, served, lm_input, choice_params))
    except BaseException:
        for stream in streams:
            stream.cancel()
        raise
    return streams


async def merged(streams: list[EventStream[Event]]) -> AsyncIterator[tuple[int, Event]]:
    """The events of several streams as ``(index, event)``, in arrival order; leaving cancels all."""
    if len(streams) == 1:
        async for event in streams[0]:
            yield 0, event
        return
    queue: asyncio.Queue[tuple[int, Event | None]] = asyncio.Queue()

    async def pump(index: int, stream: EventStream[Event]) -> None:
        try:
            async for event in stream:
                await queue.put((index, event))
        finally:
            await queue.put((index, None))

    tasks = [asyncio.create_task(pump(i, s)) for i, s in enumerate(streams)]
    try:
        live = len(streams)
        while live:
            index, item = await queue.get()
            if item is None:
                live -= 1
                continue
            yield index, item
    finally:
        for task in tasks:
            task.cancel()
        for stream in streams:
            stream.cancel()


@dataclass
class ToolCallStream:
    """Turns ToolCallDelta / ToolCall events of one choice into OpenAI-style call deltas.

    A call streamed with deltas is announced by its first delta (index, id, name) and then
    grows by argument fragments; a call with no deltas is sent complete as one delta.
    """

    indexes: dict[str, int] = field(default_factory=dict)
    arguments: dict[str, list[str]] = field(default_factory=dict)
    names: dict[str, str] = field(default_factory=dict)
    finished: list[ToolCall] = field(default_factory=list)

    def on_delta(self, delta: ToolCallDelta) -> tuple[int, bool, str] | None:
        """``(index, is_first, arguments fragment)`` for a delta, None when it adds nothing."""
        first = delta.id not in self.indexes
        if first:
            self.indexes[delta.id] = len(self.indexes)
            self.names[delta.id] = delta.name
            self.arguments[delta.id] = []
        elif not delta.arguments_delta:
            return None
        self.arguments[delta.id].append(delta.arguments_delta)
        return self.indexes[delta.id], first, delta.arguments_delta

    def on_call(self, call: ToolCall) -> tuple[int, str] | None:
        """For a call never streamed: ``(index, complete arguments JSON)``; else None."""
        self.finished.append(call)
        if call.id in self.indexes:
            return None
        self.indexes[call.id] = len(self.indexes)
        return self.indexes[call.id], json.dumps(call.arguments, ensure_ascii=False)


def arguments_json(call: ToolCall) -> str:
    """A call's arguments as the JSON string OpenAI messages carry."""
    return json.dumps(call.arguments, ensure_ascii=False)


@dataclass
class Collected:
    """What one choice produced, for the non-streaming answers."""

    content: list[str] = field(default_factory=list)
    reasoning: list[str] = field(default_factory=list)
    calls: list[ToolCall] = field(default_factory=list)
    logprobs: list[Any] = field(default_factory=list)
    info: Info | None = None

    def add(self, event: Event) -> None:
        """Fold one event in (a rejected call's text is content, never lost)."""
        if isinstance(event, Chunk):
            (self.reasoning if event.channel == "reasoning" else self.content).append(event.text)
            if event.logprobs and event.channel == "content":
                self.logprobs.extend(event.logprobs)
        elif isinstance(event, ToolCall):
            self.calls.append(event)
        elif isinstance(event, RejectedToolCall):
            self.content.append(event.text)
        elif isinstance(event, Info):
            self.info = event

    @property
    def text(self) -> str:
        """The content text."""
        return "".join(self.content)

    @property
    def reasoning_text(self) -> str | None:
        """The reasoning text, or None when there was none."""
        return "".join(self.reasoning) if self.reasoning else None


async def collect(stream: EventStream[Event], *, single_tool_call: bool = False) -> Collected:
    """Drain a stream; ``single_tool_call`` stops it after the first call (parallel_tool_calls=false)."""
    collected = Collected()
    async for event in stream:
        if single_tool_call and isinstance(event, ToolCall | ToolCallDelta) and collected.calls:
            continue
        collected.add(event)
        if single_tool_call and isinstance(event, ToolCall):
            stream.cancel()
    return collected


def raise_if_failed(info: Info | None) -> Info:
    """The final Info, or a 500 when the generation failed (non-streaming answers)."""
    assert info is not None, "a stream always ends with Info"
    if info.stop_reason == StopReason.ERROR:
        raise APIError(500, f"the generation failed: {info.error}", code="generation_failed", type="server_error")
    return info


def finish_reason(info: Info, has_calls: bool) -> str:
    """OpenAI's finish_reason: ``tool_calls``, ``length`` or ``stop``."""
    if has_calls:
        return "tool_calls"
    if info.stop_reason == StopReason.LENGTH:
        return "length"
    return "stop"


def usage(infos: list[Info], choices_per_prompt: int | None = None) -> dict[str, int]:
    """OpenAI chat/completions usage over the choices (each prompt counted once).

    ``choices_per_prompt``: choices ``i * n ... i * n + n - 1`` share prompt ``i``
    (default: all choices share one prompt).
    """
    step = choices_per_prompt or max(1, len(infos))
    prompt = sum(info.stats.prompt_tokens + info.stats.cached_prompt_tokens for info in infos[::step])
    completion = sum(info.stats.generated_tokens for info in infos)
    result = {"prompt_tokens": prompt, "completion_tokens": completion, "total_tokens": prompt + completion}
    return result


def token_text(served: ServedModel, token_id: int) -> str:
    """One token's text (for logprobs)."""
    return str(served.context.tokenizer.decode([token_id]))
