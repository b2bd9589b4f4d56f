"""Starting generations for a request, and what every API does with their events.

A stream is created on a worker thread (template rendering and tokenization stay off the event
loop) and consumed with ``async for``; creation errors become 400s (``context_length_exceeded``
for a prompt too long) before any byte of the response is sent.
"""

from __future__ import annotations

import asyncio
import dataclasses
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
from .parameters import core_param
from .state import ServedModel, ServerState
from .workers import WorkPool

MAX_SEED_RANGE = 2**64
"""Seeds are 0 to 2**64-1 (the core's range); per-choice seeds wrap within it."""


def new_id(prefix: str) -> str:
    """A random id with an API's prefix (``chatcmpl-``, ``msg_``, ``resp_``, ``call_``...)."""
    return f"{prefix}{secrets.token_hex(12)}"


async def prepare(served: ServedModel, user_input: UserInput | LMInput, work: WorkPool | None = None,
                  input_param: str = "messages") -> LMInput:
    """Render and tokenize off the loop (on ``work`` when given: admission-controlled); bad input
    (template, tools, empty prompt) is a 400. ``input_param``: the request field holding the
    prompt, named when nothing narrower is known (a surrogate or a nesting found in rendering)."""
    if isinstance(user_input, LMInput):
        return user_input
    try:
        if work is not None:
            return await work.run(served.context.prepare, user_input)
        return await asyncio.to_thread(served.context.prepare, user_input)
    except ValidationError as exc:
        raise core_param(from_validation(exc)) from None
    except RecursionError:
        raise APIError(400, "the input nests too deeply to render", param=input_param,
                       code="invalid_request") from None
    except UnicodeError:  # the body walk refuses raw ones: this came escaped inside a JSON string
        raise APIError(400, "the input holds a lone surrogate (\\ud800-\\udfff) inside a JSON string "
                       "(a tool call's arguments, say): not valid Unicode text", param=input_param,
                       code="invalid_value") from None
    except (UnknownNameError, TemplateError, ValueError, TypeError) as exc:
        raise core_param(APIError(400, str(exc), code="invalid_request")) from None


def _creation_error(error: APIError, params: GenerationParameters, format_param: str | None) -> APIError:
    """A creation error naming its field; one the constraint engine raised (a schema or grammar
    it cannot compile) names ``format_param``, the request field that holds the format."""
    error = core_param(error)
    if error.param is None and format_param is not None and params.response_format is not None:
        error.param = format_param
    return error


async def open_stream(state: ServerState, served: ServedModel, user_input: UserInput | LMInput,
                      params: GenerationParameters, *, format_param: str | None = None,
                      input_param: str = "messages") -> EventStream[Event]:
    """Start one generation; creation errors are API errors (nothing generated yet).

    ``format_param``: the request field holding ``response_format`` (errors compiling it name it);
    ``input_param``: the field holding the prompt (a prompt too long for the context names it).
    """
    context = served.context
    lm_input = await prepare(served, user_input, state.work, input_param)

    def create() -> EventStream[Event]:
        return generate(lm_input, parameters=params, context=context, observers=state.metrics.observers)

    try:
        if served.source is not None:
            return await served.source.open(lm_input, params)
        return await state.work.run(create)
    except ContextLengthError as exc:
        raise APIError(400, str(exc), param=input_param, code="context_length_exceeded") from None
    except ValidationError as exc:
        raise core_param(from_validation(exc)) from None
    except RecursionError:
        raise APIError(400, "a schema or grammar nests too deeply", code="invalid_request") from None
    except (UnknownNameError, TemplateError, ValueError, TypeError) as exc:
        raise _creation_error(APIError(400, str(exc), code="invalid_request"), params, format_param) from None


def choice_parameters(params: GenerationParameters, index: int) -> GenerationParameters:
    """Choice ``index`` of ``n``: with a seed, ``seed + index`` (wrapping within the seed range).

    A copy without re-validation: the parameters were validated once for the request (a
    response_format schema is not checked again per choice).
    """
    if not index or params.seed is None:
        return params
    return params.model_copy(update={"seed": (params.seed + index) % MAX_SEED_RANGE})


async def open_streams(state: ServerState, served: ServedModel, user_input: UserInput | LMInput,
                       params: GenerationParameters, n: int, *,
                       format_param: str | None = None, input_param: str = "messages",
                       cache_key: str | None = None) -> list[EventStream[Event]]:
    """``n`` generations of one input (``n`` > 1 with a seed: seed, seed+1, ...).

    ``cache_key`` (the request's ``prompt_cache_key``) goes into the input's metadata: a
    routing / prefix-cache hint for sources that place generations (Ray's PrefixRouter)."""
    lm_input = await prepare(served, user_input, state.work, input_param)
    if cache_key is not None:
        lm_input = dataclasses.replace(lm_input, metadata={**lm_input.metadata, "prompt_cache_key": cache_key})
    streams: list[EventStream[Event]] = []
    try:
        for index in range(n):
            streams.append(await open_stream(state, served, lm_input, choice_parameters(params, index),
                                             format_param=format_param, input_param=input_param))
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


def usage(infos: list[Info], choices_per_prompt: int | None = None) -> dict[str, Any]:
    """OpenAI chat/completions usage over the choices (each prompt counted once).

    ``choices_per_prompt``: choices ``i * n ... i * n + n - 1`` share prompt ``i``
    (default: all choices share one prompt). ``prompt_tokens_details.cached_tokens``: the
    prompt tokens a prompt cache supplied (not prefilled again).
    """
    step = choices_per_prompt or max(1, len(infos))
    firsts = infos[::step]
    cached = sum(info.stats.cached_prompt_tokens for info in firsts)
    prompt = sum(info.stats.prompt_tokens for info in firsts) + cached
    completion = sum(info.stats.generated_tokens for info in infos)
    return {"prompt_tokens": prompt, "completion_tokens": completion, "total_tokens": prompt + completion,
            "prompt_tokens_details": {"cached_tokens": cached}}


def token_text(served: ServedModel, token_id: int) -> str:
    """One token's text (for logprobs)."""
    return str(served.context.tokenizer.decode([token_id]))
