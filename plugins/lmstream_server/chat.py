"""POST /v1/chat/completions: OpenAI chat completions, streamed or not.

Streaming sends, per choice, a first delta with the role, then content / ``reasoning_content``
/ ``tool_calls`` deltas as the model produces them, then a delta with the ``finish_reason``;
with ``stream_options.include_usage`` a last chunk with empty ``choices`` carries the usage.
The stream ends with ``data: [DONE]``. A failure after the stream started is an SSE error
event (``data: {"error": ...}``), then the stream ends.
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from typing import Any

from lmstream import (
    Chunk,
    Event,
    EventStream,
    Info,
    RejectedToolCall,
    StopReason,
    ToolCall,
    ToolCallDelta,
    UserInput,
)

from .chat_request import (
    ChatRequest,
    chat_messages,
    check_store,
    parse,
    response_format_values,
    sampling_values,
    tool_choice_values,
    tool_specs,
)
from .errors import APIError
from .generation import (
    ToolCallStream,
    arguments_json,
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


def logprob_entries(served: ServedModel, logprobs: Any) -> list[dict[str, Any]]:
    """OpenAI chat ``logprobs.content`` entries for TokenLogprobs."""
    entries = []
    for item in logprobs:
        text = token_text(served, item.id)
        entries.append({
            "token": text, "logprob": item.logprob, "bytes": list(text.encode()),
            "top_logprobs": [{"token": (t := token_text(served, tid)), "logprob": lp, "bytes": list(t.encode())}
                             for tid, lp in item.top],
        })
    return entries


async def chat_completions(state: ServerState, body: dict[str, Any]) -> Any:
    """Validate, start the generations, and answer (a dict, or an SSE response)."""
    request: ChatRequest = parse(ChatRequest, body)
    served = state.model(request.model)
    check_store(request.store)
    values = sampling_values(request, state.limits.max_n, state.limits.max_tokens_default)
    if request.max_completion_tokens is not None:
        values["max_tokens"] = request.max_completion_tokens
    if request.top_logprobs and not request.logprobs:
        raise APIError(400, "top_logprobs needs logprobs: true", param="top_logprobs", code="invalid_value")
    if request.logprobs:
        values["logprobs"] = True
        values["top_logprobs"] = request.top_logprobs or 0
    tools, extra = tool_choice_values(request.tool_choice, tool_specs(request.tools))
    values.update(extra)
    values.update(response_format_values(request.response_format))
    if request.stream:
        values["stream_tool_calls"] = True
    elif request.stream_options is not None:
        raise APIError(400, "stream_options needs stream: true", param="stream_options", code="invalid_value")
    params = build_parameters(values)
    user_input = UserInput(messages=chat_messages(request.messages), tools=tools)
    single_call = request.parallel_tool_calls is False
    slot = state.acquire(request.n)
    try:
        streams = await open_streams(state, served, user_input, params, request.n)
    except BaseException:
        slot.release()
        raise
    if request.stream:
        include_usage = bool(request.stream_options and request.stream_options.include_usage)
        body_iter = _stream(served, streams, include_usage=include_usage, single_call=single_call,
                            logprobs=bool(request.logprobs))
        return EventSourceResponse(body_iter, keepalive_s=state.limits.keepalive_s, on_close=slot.release)
    try:
        return await _complete(served, streams, single_call=single_call, logprobs=bool(request.logprobs))
    finally:
        for stream in streams:
            stream.cancel()
        slot.release()


async def _complete(served: ServedModel, streams: list[EventStream[Event]], *, single_call: bool,
                    logprobs: bool) -> dict[str, Any]:
    choices = []
    infos: list[Info] = []
    for index, stream in enumerate(streams):
        collected = await collect(stream, single_tool_call=single_call)
        info = raise_if_failed(collected.info)
        infos.append(info)
        message: dict[str, Any] = {"role": "assistant", "content": collected.text if collected.content or not
                                   collected.calls else None}
        if collected.reasoning_text is not None:
            message["reasoning_content"] = collected.reasoning_text
        if collected.calls:
            message["tool_calls"] = [{"id": c.id, "type": "function",
                                      "function": {"name": c.name, "arguments": arguments_json(c)}}
                                     for c in collected.calls]
        choices.append({
            "index": index, "message": message,
            "logprobs": {"content": logprob_entries(served, collected.logprobs)} if logprobs else None,
            "finish_reason": finish_reason(info, bool(collected.calls)),
        })
    return {"id": new_id("chatcmpl-"), "object": "chat.completion", "created": int(time.time()),
            "model": served.name, "choices": choices, "usage": usage(infos)}


async def _stream(served: ServedModel, streams: list[EventStream[Event]], *, include_usage: bool,
                  single_call: bool, logprobs: bool) -> AsyncIterator[bytes]:
    ident, created = new_id("chatcmpl-"), int(time.time())
    base: dict[str, Any] = {"id": ident, "object": "chat.completion.chunk", "created": created, "model": served.name}

    def chunk(index: int, delta: dict[str, Any], finish: str | None = None,
              lp: list[dict[str, Any]] | None = None) -> bytes:
        payload = {**base, "choices": [{"index": index, "delta": delta,
                                        "logprobs": {"content": lp} if lp is not None else None,
                                        "finish_reason": finish}]}
        if include_usage:
            payload["usage"] = None
        return sse_data(payload)

    calls = [ToolCallStream() for _ in streams]
    infos: dict[int, Info] = {}
    for index in range(len(streams)):
        yield chunk(index, {"role": "assistant", "content": ""})
    async for index, event in merged(streams):
        tracker = calls[index]
        if single_call and tracker.finished and isinstance(event, ToolCall | ToolCallDelta):
            continue
        if isinstance(event, Chunk):
            if not event.text:
                continue
            key = "reasoning_content" if event.channel == "reasoning" else "content"
            lp = logprob_entries(served, event.logprobs or ()) if logprobs and key == "content" else None
            yield chunk(index, {key: event.text}, lp=lp)
        elif isinstance(event, ToolCallDelta):
            step = tracker.on_delta(event)
            if step is not None:
                position, first, fragment = step
                call: dict[str, Any] = {"index": position, "function": {"arguments": fragment}}
                if first:
                    call = {"index": position, "id": event.id, "type": "function",
                            "function": {"name": event.name, "arguments": fragment}}
                yield chunk(index, {"tool_calls": [call]})
        elif isinstance(event, ToolCall):
            whole = tracker.on_call(event)
            if whole is not None:
                position, arguments = whole
                yield chunk(index, {"tool_calls": [{"index": position, "id": event.id, "type": "function",
                                                    "function": {"name": event.name, "arguments": arguments}}]})
            if single_call:
                streams[index].cancel()
        elif isinstance(event, RejectedToolCall):
            yield chunk(index, {"content": event.text})
        elif isinstance(event, Info):
            if event.stop_reason == StopReason.ERROR:
                error = APIError(500, f"the generation failed: {event.error}", code="generation_failed")
                yield sse_data(error.openai_body())
                return
            infos[index] = event
            yield chunk(index, {}, finish_reason(event, bool(tracker.finished)))
    if include_usage:
        yield sse_data({**base, "choices": [], "usage": usage([infos[i] for i in sorted(infos)])})
    yield DONE
