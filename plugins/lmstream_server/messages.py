"""POST /v1/messages and /v1/messages/count_tokens: the Anthropic Messages API.

Content blocks map to chat messages: ``text``; ``thinking`` (reasoning); ``tool_use`` (an
assistant tool call); ``tool_result`` (a ``tool`` message); ``role: "system"`` entries (system
turns). Checking, conversion, templating and tokenizing run on a worker thread
(``anthropic_prepare``). Streaming sends ``message_start``, then per block
``content_block_start`` / ``content_block_delta`` (``text_delta``, ``thinking_delta``,
``input_json_delta``) / ``content_block_stop``, then ``message_delta`` (stop_reason, usage)
and ``message_stop``; a failure mid-stream is an ``error`` event, then ``message_stop``.
Query strings (``?beta=true``) and ``anthropic-beta`` / ``anthropic-version`` headers are
accepted and change nothing.
"""

from __future__ import annotations

import json
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

from .anthropic_prepare import Prepared, prepare_count, prepare_messages
from .anthropic_wire import MessagesRequest
from .errors import APIError
from .flow import answer
from .generation import new_id, open_stream, raise_if_failed
from .sse import sse_data
from .state import ServedModel, ServerState


def event(kind: str, **fields: Any) -> bytes:
    """One Anthropic SSE event (``event:`` line named as its ``type``)."""
    return sse_data({"type": kind, **fields}, event=kind)


def closing_events(message: str) -> bytes:
    """What ends a stream that failed after it started: an ``error`` event, then ``message_stop``."""
    return event("error", error={"type": "api_error", "message": message}) + event("message_stop")


async def count_tokens(state: ServerState, body: dict[str, Any]) -> dict[str, Any]:
    """``{"input_tokens": N}``: the rendered prompt's token count (admission-controlled work)."""
    return {"input_tokens": await state.work.run(prepare_count, state, body)}


def _stop_reason(info: Info, calls: int) -> str:
    """Anthropic's ``stop_reason``: ``stop_sequence`` when one of ``stop_sequences`` ended the
    text (``Info.stop_sequence``), as the Anthropic API answers."""
    if calls:
        return "tool_use"
    if info.stop_reason == StopReason.LENGTH:
        return "max_tokens"
    return "stop_sequence" if info.stop_sequence is not None else "end_turn"


def _stop_fields(info: Info, calls: int) -> dict[str, Any]:
    """``stop_reason`` and ``stop_sequence`` (the matched string, else null) of a finished turn."""
    reason = _stop_reason(info, calls)
    return {"stop_reason": reason,
            "stop_sequence": info.stop_sequence if reason == "stop_sequence" else None}


def usage(info: Info) -> dict[str, int]:
    """Anthropic usage: ``input_tokens`` are the prompt tokens not read from the prefix cache."""
    return {"input_tokens": info.stats.prompt_tokens, "output_tokens": info.stats.generated_tokens,
            "cache_read_input_tokens": info.stats.cached_prompt_tokens, "cache_creation_input_tokens": 0}


async def messages(state: ServerState, body: dict[str, Any]) -> Any:
    """Validate (on the work pool), then answer through the shared skeleton (a message, or SSE)."""
    if "thread" in body:  # the rejection the Anthropic SDKs' tool runner recovers from (full history resent)
        raise APIError(400, "unsupported parameter 'thread': this server holds no message threads",
                       param="thread", code="unsupported_parameter",
                       details={"error_code": "thread_unsupported_request", "unsupported": ["thread"]})
    prepared: Prepared = await state.work.run(prepare_messages, state, body)
    return await answer(state, MessageAnswer(state, prepared))


@dataclass
class MessageAnswer:
    """A Messages request's part of the skeleton: one generation, Anthropic events or one message."""

    state: ServerState
    prepared: Prepared
    headers: Mapping[str, str] = field(default_factory=dict)
    slots: int = 1

    @property
    def streaming(self) -> bool:
        """``stream: true``."""
        request = self.prepared.request
        return isinstance(request, MessagesRequest) and request.stream

    async def open(self) -> list[EventStream[Event]]:
        """The generation; a prompt over the context is refused in the API's wording (Claude Code
        compacts the conversation on it)."""
        prepared = self.prepared
        assert prepared.params is not None
        try:
            return [await open_stream(self.state, prepared.served, prepared.lm_input, prepared.params)]
        except APIError as error:
            if error.code == "context_length_exceeded":
                error.message = (f"prompt is too long: {len(prepared.lm_input.tokens)} tokens > "
                                 f"{prepared.served.context.info.context_length} maximum")
            raise

    def events(self, streams: Sequence[EventStream[Event]]) -> AsyncIterator[bytes]:
        """The message's SSE events."""
        prepared = self.prepared
        return _stream(prepared.served, streams[0], len(prepared.lm_input.tokens), prepared.single_tool_call)

    async def collect(self, streams: Sequence[EventStream[Event]]) -> dict[str, Any]:
        """The ``message`` object."""
        return await _collect(self.prepared.served, streams[0], self.prepared.single_tool_call)

    def closing_events(self, message: str) -> bytes:
        """An ``error`` event, then ``message_stop``."""
        return closing_events(message)


async def _collect(served: ServedModel, stream: EventStream[Event], single_tool_call: bool) -> dict[str, Any]:
    content: list[dict[str, Any]] = []
    info: Info | None = None
    calls = 0
    async for item in stream:
        if isinstance(item, Chunk | RejectedToolCall) and item.text and not (single_tool_call and calls):
            kind = "thinking" if isinstance(item, Chunk) and item.channel == "reasoning" else "text"
            if content and content[-1]["type"] == kind:
                content[-1][kind] += item.text
            else:
                content.append({"type": kind, kind: item.text, **({"signature": ""} if kind == "thinking" else {})})
        elif isinstance(item, ToolCall) and not (single_tool_call and calls):
            calls += 1
            content.append({"type": "tool_use", "id": item.id, "name": item.name, "input": item.arguments})
            if single_tool_call:
                stream.cancel()
        elif isinstance(item, Info):
            info = item
    info = raise_if_failed(info)
    return {"id": new_id("msg_"), "type": "message", "role": "assistant", "model": served.name,
            "content": content, **_stop_fields(info, calls),
            "usage": usage(info)}


class _Blocks:
    """The open content block of a stream: starting, growing and closing blocks as events."""

    def __init__(self) -> None:
        self.index = -1
        self.kind: str | None = None
        self.call: str | None = None

    def close(self) -> list[bytes]:
        if self.kind is None:
            return []
        out = []
        if self.kind == "thinking":
            out.append(event("content_block_delta", index=self.index, delta={"type": "signature_delta",
                                                                             "signature": ""}))
        out.append(event("content_block_stop", index=self.index))
        self.kind, self.call = None, None
        return out

    def start(self, kind: str, block: dict[str, Any]) -> list[bytes]:
        out = self.close()
        self.index += 1
        self.kind = kind
        return [*out, event("content_block_start", index=self.index, content_block=block)]

    def text(self, item: Chunk | RejectedToolCall) -> list[bytes]:
        kind = "thinking" if isinstance(item, Chunk) and item.channel == "reasoning" else "text"
        out = [] if self.kind == kind else self.start(
            kind, {"type": "thinking", "thinking": "", "signature": ""} if kind == "thinking"
            else {"type": "text", "text": ""})
        delta = {"type": "thinking_delta", "thinking": item.text} if kind == "thinking" else \
            {"type": "text_delta", "text": item.text}
        return [*out, event("content_block_delta", index=self.index, delta=delta)]

    def call_delta(self, item: ToolCallDelta) -> list[bytes]:
        out = []
        if self.call != item.id:
            out = self.start("tool_use", {"type": "tool_use", "id": item.id, "name": item.name, "input": {}})
            self.call = item.id
        if item.arguments_delta:
            out.append(event("content_block_delta", index=self.index,
                             delta={"type": "input_json_delta", "partial_json": item.arguments_delta}))
        return out

    def call_done(self, item: ToolCall) -> list[bytes]:
        out = []
        if self.call != item.id:
            out = self.start("tool_use", {"type": "tool_use", "id": item.id, "name": item.name, "input": {}})
            out.append(event("content_block_delta", index=self.index, delta={
                "type": "input_json_delta", "partial_json": json.dumps(item.arguments, ensure_ascii=False)}))
        return [*out, *self.close()]


async def _stream(served: ServedModel, stream: EventStream[Event], prompt_tokens: int,
                  single_tool_call: bool) -> AsyncIterator[bytes]:
    """The SSE events of one message; any failure after the start ends with ``closing_events``."""
    yield event("message_start", message={
        "id": new_id("msg_"), "type": "message", "role": "assistant", "model": served.name, "content": [],
        "stop_reason": None, "stop_sequence": None,
        "usage": {"input_tokens": prompt_tokens, "output_tokens": 0, "cache_read_input_tokens": 0,
                  "cache_creation_input_tokens": 0}})  # the prefix cache's share is known at the end
    blocks = _Blocks()
    calls = 0
    try:
        async for item in stream:
            if single_tool_call and calls and not isinstance(item, Info):
                continue
            pieces: list[bytes] = []
            if isinstance(item, Chunk | RejectedToolCall) and item.text:
                pieces = blocks.text(item)
            elif isinstance(item, ToolCallDelta):
                pieces = blocks.call_delta(item)
            elif isinstance(item, ToolCall):
                calls += 1
                pieces = blocks.call_done(item)
                if single_tool_call:
                    stream.cancel()
            elif isinstance(item, Info):
                if item.stop_reason == StopReason.ERROR:
                    yield closing_events(f"the generation failed: {item.error}")
                    return
                pieces = [*blocks.close(), event("message_delta", delta={
                    **_stop_fields(item, calls)}, usage=usage(item)),
                    event("message_stop")]
            for piece in pieces:
                yield piece
    except Exception as exc:  # a bug or a backend failure after the stream started: end it clearly
        yield closing_events(f"the generation failed: {type(exc).__name__}: {exc}")
    finally:
        stream.cancel()
