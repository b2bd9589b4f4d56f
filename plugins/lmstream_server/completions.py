"""POST /v1/completions: legacy text completions of a raw prompt (text or token ids).

No chat template is applied. ``prompt`` may be a string, a list of token ids, or a list of
either (several prompts; choice ``i * n + j`` is the ``j``-th sample of prompt ``i``).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from typing import Any

from pydantic import Field

from lmstream import (
    Chunk,
    Event,
    EventStream,
    Info,
    LMInput,
    RejectedToolCall,
    StopReason,
    UserInput,
)

from .chat_request import SamplingFields, parse, sampling_values
from .errors import APIError, bad_request, unsupported
from .generation import (
    build_parameters,
    collect,
    finish_reason,
    merged,
    new_id,
    open_streams,
    raise_if_failed,
    token_text,
    usage,
)
from .sse import EventSourceResponse, sse_data
from .state import ServedModel, ServerState

DONE = b"data: [DONE]\n\n"
COMPLETIONS_DEFAULT_MAX_TOKENS = 16
"""OpenAI's default ``max_tokens`` for legacy completions."""


class CompletionRequest(SamplingFields):
    """A /v1/completions body."""

    prompt: str | list[int] | list[str] | list[list[int]]
    logprobs: int | None = Field(None, ge=0, le=20)
    echo: bool = False
    best_of: int | None = Field(None, ge=1)
    suffix: str | None = None


def _prompts(raw: Any) -> list[str | list[int]]:
    if isinstance(raw, str) or (isinstance(raw, list) and raw and all(isinstance(x, int) for x in raw)):
        return [raw]
    if isinstance(raw, list) and raw:
        return list(raw)
    raise bad_request("prompt must not be empty", "prompt")


async def _inputs(served: ServedModel, prompts: list[str | list[int]]) -> list[UserInput | LMInput]:
    inputs: list[UserInput | LMInput] = []
    tokenizer = served.context.tokenizer
    vocab = getattr(tokenizer, "vocab_size", None)
    for index, prompt in enumerate(prompts):
        where = "prompt" if len(prompts) == 1 else f"prompt[{index}]"
        if isinstance(prompt, str):
            if not prompt:
                raise bad_request("prompt must not be empty", where)
            inputs.append(UserInput(prompt=prompt, use_chat_template=False) if prompt.strip()
                          else LMInput(tokens=tuple(tokenizer.encode(prompt)), text=prompt))
            continue
        if not prompt or any(t < 0 or (isinstance(vocab, int) and t >= vocab) for t in prompt):
            raise bad_request("prompt token ids must be a non-empty list of ids in the vocabulary", where)
        try:
            text = await asyncio.to_thread(tokenizer.decode, prompt)
        except Exception as exc:
            raise bad_request(f"prompt token ids do not decode: {exc}", where) from None
        inputs.append(LMInput(tokens=tuple(prompt), text=text))
    return inputs


async def completions(state: ServerState, body: dict[str, Any]) -> Any:
    """Validate, start the generations, and answer (a dict, or an SSE response)."""
    request: CompletionRequest = parse(CompletionRequest, body)
    served = state.model(request.model)
    if request.echo:
        raise unsupported("echo", "the prompt is not echoed; prepend it yourself")
    if request.suffix:
        raise unsupported("suffix", "fill-in-the-middle is not supported")
    if request.best_of is not None and request.best_of != request.n:
        raise unsupported("best_of", "only best_of equal to n (no server-side ranking)")
    values = sampling_values(request, state.limits.max_n, COMPLETIONS_DEFAULT_MAX_TOKENS)
    if request.logprobs is not None:
        values["logprobs"] = True
        values["top_logprobs"] = request.logprobs
    if request.stream:
        values["stream_tool_calls"] = False
    elif request.stream_options is not None:
        raise APIError(400, "stream_options needs stream: true", param="stream_options", code="invalid_value")
    values["tool_parser"] = "none"
    values["reasoning_markers"] = None  # raw completions: all generated text is text
    params = build_parameters(values)
    prompts = _prompts(request.prompt)
    total = len(prompts) * request.n
    if total > state.limits.max_n:
        raise bad_request(f"{len(prompts)} prompts x n={request.n} is over the limit of {state.limits.max_n}",
                          "prompt")
    inputs = await _inputs(served, prompts)
    slot = state.acquire(total)
    streams: list[EventStream[Event]] = []
    try:
        for lm_input in inputs:
            streams += await open_streams(state, served, lm_input, params, request.n)
    except BaseException:
        for stream in streams:
            stream.cancel()
        slot.release()
        raise
    want_logprobs = request.logprobs is not None
    if request.stream:
        include_usage = bool(request.stream_options and request.stream_options.include_usage)
        return EventSourceResponse(_stream(served, streams, include_usage, want_logprobs, request.n),
                                   keepalive_s=state.limits.keepalive_s, on_close=slot.release)
    try:
        choices, infos = [], []
        for index, stream in enumerate(streams):
            collected = await collect(stream)
            info = raise_if_failed(collected.info)
            infos.append(info)
            choices.append({"index": index, "text": collected.text,
                            "logprobs": _logprobs(served, collected.logprobs) if want_logprobs else None,
                            "finish_reason": finish_reason(info, False)})
        return {"id": new_id("cmpl-"), "object": "text_completion", "created": int(time.time()),
                "model": served.name, "choices": choices, "usage": usage(infos, request.n)}
    finally:
        for stream in streams:
            stream.cancel()
        slot.release()


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
                error = APIError(500, f"the generation failed: {event.error}", code="generation_failed")
                yield sse_data(error.openai_body())
                return
            infos[index] = event
            yield piece(index, "", finish_reason(event, False))
    if include_usage:
        yield sse_data({**base, "choices": [], "usage": usage([infos[i] for i in sorted(infos)], n)})
    yield DONE
