"""POST /v1/completions: legacy text completions of a raw prompt (text or token ids).

No chat template is applied. ``prompt`` may be a string, a list of token ids, or a list of
either (several prompts; choice ``i * n + j`` is the ``j``-th sample of prompt ``i``).
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from pydantic import Field

from lmstream import (
    Chunk,
    Event,
    EventStream,
    GenerationParameters,
    Info,
    LMInput,
    RejectedToolCall,
    StopReason,
    UserInput,
)

from .bodycheck import check_body
from .chat_request import parse
from .errors import bad_request, unsupported
from .flow import answer
from .generation import (
    collect,
    finish_reason,
    merged,
    new_id,
    open_streams,
    raise_if_failed,
    token_text,
    usage,
)
from .openai_sse import DONE, closing_events, error_event, guarded
from .parameters import ServerDefaults, core_parameters, server_defaults, vocab_limit
from .sampling import SamplingFields
from .sse import sse_data
from .state import ServedModel, ServerState

__all__ = ["COMPLETIONS_DEFAULT_MAX_TOKENS", "DONE", "CompletionRequest", "completions"]

COMPLETIONS_DEFAULT_MAX_TOKENS = 16
"""OpenAI's default ``max_tokens`` for legacy completions."""


class CompletionRequest(SamplingFields):
    """A /v1/completions body (strict: see ``WireModel``)."""

    prompt: str | list[int] | list[str] | list[list[int]]
    logprobs: int | None = None
    """Alternatives per token (0-20: the core's ``top_logprobs`` range, named ``logprobs`` in errors)."""
    echo: bool | None = False
    best_of: int | None = Field(None, ge=1)
    suffix: str | None = None

    def to_parameters(self, defaults: ServerDefaults) -> GenerationParameters:
        """This request's GenerationParameters: raw text (no tool-call parsing, no reasoning split),
        ``logprobs: N`` as N alternatives per token; core errors name this request's field."""
        if self.echo:
            raise unsupported("echo", "the prompt is not echoed; prepend it yourself")
        if self.suffix:
            raise unsupported("suffix", "fill-in-the-middle is not supported")
        if self.best_of is not None and self.best_of != self.choices:
            raise unsupported("best_of", "only best_of equal to n (no server-side ranking)")
        values = self.sampling(defaults, COMPLETIONS_DEFAULT_MAX_TOKENS)
        if self.logprobs is not None:
            values |= {"logprobs": True, "top_logprobs": self.logprobs}
        values |= {"tool_parser": "none", "reasoning_markers": None}  # raw completions: all text is text
        return core_parameters(values, {"top_logprobs": "logprobs"})


@dataclass(frozen=True)
class CompletionPlan:
    """A validated completions request: the prepared inputs, the parameters, the answer's shape."""

    served: ServedModel
    inputs: list[UserInput | LMInput]
    params: GenerationParameters
    n: int
    stream: bool
    include_usage: bool
    logprobs: bool
    cache_key: str | None = None
    """The request's ``prompt_cache_key`` (a routing hint, see ``open_streams``)."""


def _prompts(raw: Any) -> list[str | list[int]]:
    if isinstance(raw, str) or (isinstance(raw, list) and raw and all(isinstance(x, int) for x in raw)):
        return [raw]
    if isinstance(raw, list) and raw:
        return list(raw)
    raise bad_request("prompt must not be empty", "prompt")


def _inputs(served: ServedModel, prompts: list[str | list[int]]) -> list[UserInput | LMInput]:
    """The prompts as inputs (token ids checked against the vocabulary and decoded)."""
    inputs: list[UserInput | LMInput] = []
    tokenizer = served.context.tokenizer
    vocab = vocab_limit(tokenizer)
    for index, prompt in enumerate(prompts):
        where = "prompt" if len(prompts) == 1 else f"prompt[{index}]"
        if isinstance(prompt, str):
            if not prompt:
                raise bad_request("prompt must not be empty", where)
            inputs.append(UserInput(prompt=prompt, use_chat_template=False) if prompt.strip()
                          else LMInput(tokens=tuple(tokenizer.encode(prompt)), text=prompt))
            continue
        if not prompt or any(t < 0 or (vocab is not None and t >= vocab) for t in prompt):
            raise bad_request("prompt token ids must be a non-empty list of ids in the vocabulary", where)
        try:
            text = tokenizer.decode(prompt)
        except Exception as exc:
            raise bad_request(f"prompt token ids do not decode: {exc}", where) from None
        inputs.append(LMInput(tokens=tuple(prompt), text=text))
    return inputs


def plan_completions(state: ServerState, body: dict[str, Any]) -> CompletionPlan:
    """Validate and convert a completions body (run on the work pool); mistakes are 400s naming the field."""
    check_body(body)
    request: CompletionRequest = parse(CompletionRequest, body)
    served = state.model(request.model)
    params = request.to_parameters(server_defaults(state, served))
    prompts = _prompts(request.prompt)
    total = len(prompts) * request.choices
    if total > state.limits.max_n:
        raise bad_request(f"{len(prompts)} prompts x n={request.choices} is over the limit of {state.limits.max_n}",
                          "prompt")
    return CompletionPlan(served=served, inputs=_inputs(served, prompts), params=params, n=request.choices,
                          stream=request.streaming,
                          include_usage=bool(request.stream_options and request.stream_options.include_usage),
                          logprobs=request.logprobs is not None, cache_key=request.prompt_cache_key)


async def completions(state: ServerState, body: dict[str, Any]) -> Any:
    """Validate (on the work pool), then answer through the shared skeleton (a dict, or SSE)."""
    plan: CompletionPlan = await state.work.run(plan_completions, state, body)
    return await answer(state, CompletionAnswer(state, plan))


@dataclass
class CompletionAnswer:
    """A completions request's part of the skeleton: ``n`` choices of each prompt."""

    state: ServerState
    plan: CompletionPlan
    headers: Mapping[str, str] = field(default_factory=dict)

    @property
    def slots(self) -> int:
        """One slot per prompt and choice."""
        return len(self.plan.inputs) * self.plan.n

    @property
    def streaming(self) -> bool:
        """``stream: true``."""
        return self.plan.stream

    async def open(self) -> list[EventStream[Event]]:
        """``n`` generations per prompt (those opened are cancelled if a later one fails)."""
        streams: list[EventStream[Event]] = []
        try:
            for lm_input in self.plan.inputs:
                streams += await open_streams(self.state, self.plan.served, lm_input, self.plan.params,
                                              self.plan.n, input_param="prompt", cache_key=self.plan.cache_key)
        except BaseException:
            for stream in streams:
                stream.cancel()
            raise
        return streams

    def events(self, streams: Sequence[EventStream[Event]]) -> AsyncIterator[bytes]:
        """The text pieces, guarded: a failure mid-way ends with an error event and ``[DONE]``."""
        plan = self.plan
        return guarded(_stream(plan.served, list(streams), plan.include_usage, plan.logprobs, plan.n))

    async def collect(self, streams: Sequence[EventStream[Event]]) -> dict[str, Any]:
        """The ``text_completion`` object."""
        served, plan = self.plan.served, self.plan
        choices, infos = [], []
        for index, stream in enumerate(streams):
            collected = await collect(stream)
            info = raise_if_failed(collected.info)
            infos.append(info)
            choices.append({"index": index, "text": collected.text,
                            "logprobs": _logprobs(served, collected.logprobs) if plan.logprobs else None,
                            "finish_reason": finish_reason(info, False)})
        return {"id": new_id("cmpl-"), "object": "text_completion", "created": int(time.time()),
                "model": served.name, "choices": choices, "usage": usage(infos, plan.n)}

    def closing_events(self, message: str) -> bytes:
        """An error event and ``[DONE]``."""
        return closing_events(message)


def _logprobs(served: ServedModel, items: Any, offset: int = 0) -> dict[str, Any]:
    """The legacy completions logprobs object."""
    tokens, token_logprobs, top, offsets = [], [], [], []
    for item in items:
        text = token_text(served, item.id)
        offsets.append(offset)
        offset += len(text)
        tokens.append(text)
        token_logprobs.append(item.logprob)
        top.append({token_text(served, tid): lp for tid, lp in item.top} if item.top else None)
    return {"tokens": tokens, "token_logprobs": token_logprobs, "top_logprobs": top, "text_offset": offsets}


async def _stream(served: ServedModel, streams: list[EventStream[Event]], include_usage: bool,
                  want_logprobs: bool, n: int) -> AsyncIterator[bytes]:
    ident, created = new_id("cmpl-"), int(time.time())
    base: dict[str, Any] = {"id": ident, "object": "text_completion", "created": created, "model": served.name}
    offsets = [0] * len(streams)
    infos: dict[int, Info] = {}

    def piece(index: int, text: str, finish: str | None, lp: Any = None) -> bytes:
        payload = {**base, "choices": [{"index": index, "text": text, "logprobs": lp, "finish_reason": finish}]}
        if include_usage:
            payload["usage"] = None
        return sse_data(payload)

    async for index, event in merged(streams):
        if isinstance(event, Chunk | RejectedToolCall):
            if not event.text:
                continue
            lp = None
            if want_logprobs and isinstance(event, Chunk):
                lp = _logprobs(served, event.logprobs or (), offsets[index])
            offsets[index] += len(event.text)
            yield piece(index, event.text, None, lp)
        elif isinstance(event, Info):
            if event.stop_reason == StopReason.ERROR:
                yield error_event(f"the generation failed: {event.error}")
                yield DONE
                return
            infos[index] = event
            yield piece(index, "", finish_reason(event, False))
    if include_usage:
        yield sse_data({**base, "choices": [], "usage": usage([infos[i] for i in sorted(infos)], n)})
    yield DONE
