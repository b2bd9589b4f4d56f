"""POST /v1/chat/completions: OpenAI chat completions, streamed or not.

Streaming sends, per choice, a first delta with the role, then content / reasoning
(``reasoning_content`` and/or ``reasoning``, per ``ServerLimits.reasoning_field``) /
``tool_calls`` deltas as the model produces them, then a delta with the ``finish_reason``;
with ``stream_options.include_usage`` a last chunk with empty ``choices`` carries the usage.
The stream ends with ``data: [DONE]``; a failure after the stream started is an SSE error
event (``data: {"error": ...}``) followed by ``data: [DONE]``.
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Mapping, Sequence
from dataclasses import dataclass, field
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
)

from .chat_plan import ChatPlan, plan_chat
from .flow import answer
from .generation import (
    ToolCallStream,
    arguments_json,
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
from .reasoning import with_reasoning
from .sse import sse_data
from .state import ServedModel, ServerState

__all__ = ["DONE", "ChatAnswer", "chat_completions", "logprob_entries"]


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
    """Validate (on the work pool), then answer through the shared skeleton (a dict, or SSE)."""
    plan: ChatPlan = await state.work.run(plan_chat, state, body)
    return await answer(state, ChatAnswer(state, plan))


@dataclass
class ChatAnswer:
    """A chat request's part of the skeleton: ``n`` choices, OpenAI chunks or one completion."""

    state: ServerState
    plan: ChatPlan
    headers: Mapping[str, str] = field(default_factory=dict)

    @property
    def slots(self) -> int:
        """One slot per choice."""
        return self.plan.n

    @property
    def streaming(self) -> bool:
        """``stream: true``."""
        return self.plan.stream

    async def open(self) -> list[EventStream[Event]]:
        """The ``n`` generations (``response_format`` errors name that field)."""
        plan = self.plan
        return await open_streams(self.state, plan.served, plan.user_input, plan.params, plan.n,
                                  format_param="response_format", cache_key=plan.cache_key)

    def events(self, streams: Sequence[EventStream[Event]]) -> AsyncIterator[bytes]:
        """The chunks, guarded: a failure mid-way ends with an error event and ``[DONE]``."""
        plan = self.plan
        return guarded(_stream(plan.served, list(streams), include_usage=plan.include_usage,
                               single_call=plan.single_call, logprobs=plan.logprobs,
                               reasoning_field=self.state.limits.reasoning_field))

    async def collect(self, streams: Sequence[EventStream[Event]]) -> dict[str, Any]:
        """The ``chat.completion`` object."""
        plan = self.plan
        return await _complete(plan.served, list(streams), single_call=plan.single_call, logprobs=plan.logprobs,
                               reasoning_field=self.state.limits.reasoning_field)

    def closing_events(self, message: str) -> bytes:
        """An error event and ``[DONE]``."""
        return closing_events(message)


async def _complete(served: ServedModel, streams: list[EventStream[Event]], *, single_call: bool,
                    logprobs: bool, reasoning_field: str) -> dict[str, Any]:
    choices = []
    infos: list[Info] = []
    for index, stream in enumerate(streams):
        collected = await collect(stream, single_tool_call=single_call)
        info = raise_if_failed(collected.info)
        infos.append(info)
        message: dict[str, Any] = {"role": "assistant", "content": collected.text if collected.content or not
                                   collected.calls else None}
        if collected.reasoning_text is not None:
            with_reasoning(message, collected.reasoning_text, reasoning_field)
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
                  single_call: bool, logprobs: bool, reasoning_field: str) -> AsyncIterator[bytes]:
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
            if event.channel == "reasoning":
                yield chunk(index, with_reasoning({}, event.text, reasoning_field))
                continue
            lp = logprob_entries(served, event.logprobs or ()) if logprobs else None
            yield chunk(index, {"content": event.text}, lp=lp)
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
                yield error_event(f"the generation failed: {event.error}")
                yield DONE
                return
            infos[index] = event
            yield chunk(index, {}, finish_reason(event, bool(tracker.finished)))
    if include_usage:
        yield sse_data({**base, "choices": [], "usage": usage([infos[i] for i in sorted(infos)])})
    yield DONE
