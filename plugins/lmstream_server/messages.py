"""POST /v1/messages and /v1/messages/count_tokens: the Anthropic Messages API.

Content blocks map to chat messages: ``text``; ``thinking`` (reasoning); ``tool_use`` (an
assistant tool call); ``tool_result`` (a ``tool`` message). Streaming sends ``message_start``,
then per block ``content_block_start`` / ``content_block_delta`` (``text_delta``,
``thinking_delta``, ``input_json_delta``) / ``content_block_stop``, then ``message_delta``
(stop_reason, usage) and ``message_stop``; a failure mid-stream is an ``error`` event.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from lmstream import (
    ChatMessage,
    ChatTemplateOptions,
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

from .chat_request import parse, tool_specs
from .errors import APIError, bad_request, unsupported
from .generation import build_parameters, new_id, open_stream, parameters_supported, prepare
from .sse import EventSourceResponse, sse_data
from .state import ServedModel, ServerState


class Thinking(BaseModel):
    """``thinking``: enabled (with a budget) or disabled."""

    model_config = ConfigDict(extra="forbid")

    type: Literal["enabled", "disabled"]
    budget_tokens: int | None = Field(None, ge=1)


class CountTokensRequest(BaseModel):
    """A /v1/messages/count_tokens body."""

    model_config = ConfigDict(extra="forbid")

    model: str
    messages: list[dict[str, Any]] = Field(min_length=1)
    system: str | list[dict[str, Any]] | None = None
    tools: list[dict[str, Any]] | None = None
    tool_choice: dict[str, Any] | None = None
    thinking: Thinking | None = None


class MessagesRequest(CountTokensRequest):
    """A /v1/messages body."""

    max_tokens: int = Field(ge=1)
    stream: bool = False
    stop_sequences: list[str] | None = None
    temperature: float | None = Field(None, ge=0.0, le=1.0)
    top_p: float | None = Field(None, gt=0.0, le=1.0)
    top_k: int | None = Field(None, ge=0)
    metadata: dict[str, Any] | None = None


def _blocks(content: Any, where: str) -> list[dict[str, Any]]:
    if isinstance(content, str):
        return [{"type": "text", "text": content}]
    if not isinstance(content, list):
        raise bad_request(f"{where} must be a string or a list of content blocks", where)
    return content


def _text(block: dict[str, Any], key: str, where: str) -> str:
    value = block.get(key)
    if not isinstance(value, str):
        raise bad_request(f"{where}.{key} must be a string", f"{where}.{key}")
    return value


def chat_messages(request: CountTokensRequest) -> list[ChatMessage]:
    """System + Anthropic messages as chat messages."""
    messages: list[ChatMessage] = []
    if request.system:
        system = request.system if isinstance(request.system, str) else "".join(
            _text(b, "text", f"system[{i}]") for i, b in enumerate(request.system))
        messages.append(ChatMessage(role="system", content=system))
    for index, message in enumerate(request.messages):
        where = f"messages[{index}]"
        role = message.get("role")
        if role not in ("user", "assistant"):
            raise bad_request(f"{where}.role must be 'user' or 'assistant'", f"{where}.role")
        texts: list[str] = []
        thinking: list[str] = []
        calls: list[dict[str, Any]] = []
        for number, block in enumerate(_blocks(message.get("content"), f"{where}.content")):
            at = f"{where}.content[{number}]"
            kind = block.get("type") if isinstance(block, dict) else None
            if kind == "text":
                texts.append(_text(block, "text", at))
            elif kind == "thinking" and role == "assistant":
                thinking.append(_text(block, "thinking", at))
            elif kind == "redacted_thinking" and role == "assistant":
                continue
            elif kind == "tool_use" and role == "assistant":
                if not isinstance(block.get("input"), dict):
                    raise bad_request(f"{at}.input must be an object", f"{at}.input")
                calls.append({"id": _text(block, "id", at), "type": "function",
                              "function": {"name": _text(block, "name", at), "arguments": block["input"]}})
            elif kind == "tool_result" and role == "user":
                if texts:
                    messages.append(ChatMessage(role="user", content="".join(texts)))
                    texts = []
                result = block.get("content", "")
                body = result if isinstance(result, str) else "".join(
                    _text(b, "text", f"{at}.content[{i}]") for i, b in enumerate(_blocks(result, f"{at}.content")))
                messages.append(ChatMessage(role="tool", tool_call_id=_text(block, "tool_use_id", at), content=body))
            else:
                raise unsupported(f"{at}.type", f"content block {kind!r} in a {role} message")
        if texts or calls or thinking:
            messages.append(ChatMessage(role=role, content="".join(texts) if texts or not calls else None,
                                        tool_calls=calls or None,
                                        reasoning_content="".join(thinking) if thinking else None))
    return messages


def _tools(request: CountTokensRequest) -> tuple[list[Any] | None, dict[str, Any]]:
    raw = request.tools
    specs = None
    if raw is not None:
        converted = []
        for index, tool in enumerate(raw):
            if not isinstance(tool, dict) or tool.get("type", "custom") != "custom":
                kind = tool.get("type") if isinstance(tool, dict) else None
                raise unsupported(f"tools[{index}].type", f"tool type {kind!r}; only client (custom) tools")
            extra = set(tool) - {"name", "description", "input_schema", "type", "cache_control"}
            if extra:
                raise unsupported(f"tools[{index}].{sorted(extra)[0]}")
            converted.append({"type": "function", "function": {
                "name": tool.get("name"), "description": tool.get("description", ""),
                "parameters": tool.get("input_schema", {"type": "object", "properties": {}})}})
        specs = tool_specs(converted)
    choice = request.tool_choice
    kind = choice.get("type") if choice else "auto"
    if kind == "auto":
        return specs, {}
    if kind == "none":
        return None, {"tool_parser": "none"}
    if parameters_supported("tool_choice") and kind in ("any", "tool"):
        return specs, {"tool_choice": "required" if kind == "any" else
                       {"type": "function", "function": {"name": choice.get("name") if choice else None}}}
    raise unsupported("tool_choice", f"{kind!r} needs constrained decoding; 'auto' and 'none' are supported")


def _input(request: CountTokensRequest) -> tuple[UserInput, dict[str, Any]]:
    tools, extra = _tools(request)
    options = ChatTemplateOptions()
    if request.thinking is not None:
        options = ChatTemplateOptions(enable_thinking=request.thinking.type == "enabled")
    return UserInput(messages=chat_messages(request), tools=tools, template_options=options), extra


async def count_tokens(state: ServerState, body: dict[str, Any]) -> dict[str, Any]:
    """``{"input_tokens": N}``: the rendered prompt's token count."""
    request: CountTokensRequest = parse(CountTokensRequest, body)
    served = state.model(request.model)
    user_input, _ = _input(request)
    prepared = await prepare(served, user_input)
    return {"input_tokens": len(prepared.tokens)}


def _stop_reason(info: Info, calls: int) -> str:
    if calls:
        return "tool_use"
    return "max_tokens" if info.stop_reason == StopReason.LENGTH else "end_turn"


def _usage(info: Info) -> dict[str, int]:
    return {"input_tokens": info.stats.prompt_tokens + info.stats.cached_prompt_tokens,
            "output_tokens": info.stats.generated_tokens,
            "cache_read_input_tokens": info.stats.cached_prompt_tokens, "cache_creation_input_tokens": 0}


async def messages(state: ServerState, body: dict[str, Any]) -> Any:
    """Validate, start the generation, and answer (a message, or an SSE response)."""
    request: MessagesRequest = parse(MessagesRequest, body)
    served = state.model(request.model)
    user_input, values = _input(request)
    values["max_tokens"] = request.max_tokens
    values["stream_tool_calls"] = request.stream
    for name in ("temperature", "top_p", "top_k"):
        if getattr(request, name) is not None:
            values[name] = getattr(request, name)
    if request.stop_sequences:
        values["stop"] = tuple(request.stop_sequences)
    params = build_parameters(values, {"stop": "stop_sequences"})
    lm_input = await prepare(served, user_input)
    slot = state.acquire(1)
    try:
        stream = await open_stream(state, served, lm_input, params)
    except BaseException:
        slot.release()
        raise
    if request.stream:
        return EventSourceResponse(_stream(served, stream, len(lm_input.tokens)), keepalive_s=state.limits.keepalive_s,
                                   on_close=slot.release)
    try:
        content: list[dict[str, Any]] = []
        info: Info | None = None
        calls = 0
        async for event in stream:
            if isinstance(event, Chunk | RejectedToolCall) and event.text:
                kind = "thinking" if isinstance(event, Chunk) and event.channel == "reasoning" else "text"
                if content and content[-1]["type"] == kind:
                    content[-1][kind] += event.text
                else:
                    content.append({"type": kind, kind: event.text, **({"signature": ""} if kind == "thinking" else {})})
            elif isinstance(event, ToolCall):
                calls += 1
                content.append({"type": "tool_use", "id": event.id, "name": event.name, "input": event.arguments})
            elif isinstance(event, Info):
                info = event
        assert info is not None
        if info.stop_reason == StopReason.ERROR:
            raise APIError(500, f"the generation failed: {info.error}", code="generation_failed")
        return {"id": new_id("msg_"), "type": "message", "role": "assistant", "model": served.name,
                "content": content, "stop_reason": _stop_reason(info, calls), "stop_sequence": None,
                "usage": _usage(info)}
    finally:
        stream.cancel()
        slot.release()


async def _stream(served: ServedModel, stream: EventStream[Event], prompt_tokens: int) -> AsyncIterator[bytes]:
    def event(kind: str, **fields: Any) -> bytes:
        return sse_data({"type": kind, **fields}, event=kind)

    yield event("message_start", message={
        "id": new_id("msg_"), "type": "message", "role": "assistant", "model": served.name, "content": [],
        "stop_reason": None, "stop_sequence": None,
        "usage": {"input_tokens": prompt_tokens, "output_tokens": 0}})
    index = -1
    open_kind: str | None = None
    open_call: str | None = None
    calls = 0

    def close() -> list[bytes]:
        nonlocal open_kind, open_call
        if open_kind is None:
            return []
        out = []
        if open_kind == "thinking":
            out.append(event("content_block_delta", index=index, delta={"type": "signature_delta", "signature": ""}))
        out.append(event("content_block_stop", index=index))
        open_kind, open_call = None, None
        return out

    def start(kind: str, block: dict[str, Any]) -> list[bytes]:
        nonlocal index, open_kind
        out = close()
        index += 1
        open_kind = kind
        return [*out, event("content_block_start", index=index, content_block=block)]

    async for item in stream:
        if isinstance(item, Chunk | RejectedToolCall):
            if not item.text:
                continue
            kind = "thinking" if isinstance(item, Chunk) and item.channel == "reasoning" else "text"
            pieces = [] if open_kind == kind else start(
                kind, {"type": "thinking", "thinking": "", "signature": ""} if kind == "thinking"
                else {"type": "text", "text": ""})
            delta = {"type": "thinking_delta", "thinking": item.text} if kind == "thinking" else \
                {"type": "text_delta", "text": item.text}
            for piece in [*pieces, event("content_block_delta", index=index, delta=delta)]:
                yield piece
        elif isinstance(item, ToolCallDelta):
            pieces = []
            if open_call != item.id:
                pieces = start("tool_use", {"type": "tool_use", "id": item.id, "name": item.name, "input": {}})
                open_call = item.id
            if item.arguments_delta:
                pieces.append(event("content_block_delta", index=index,
                                    delta={"type": "input_json_delta", "partial_json": item.arguments_delta}))
            for piece in pieces:
                yield piece
        elif isinstance(item, ToolCall):
            calls += 1
            pieces = []
            if open_call != item.id:
                pieces = start("tool_use", {"type": "tool_use", "id": item.id, "name": item.name, "input": {}})
                pieces.append(event("content_block_delta", index=index, delta={
                    "type": "input_json_delta", "partial_json": json.dumps(item.arguments, ensure_ascii=False)}))
            for piece in [*pieces, *close()]:
                yield piece
        elif isinstance(item, Info):
            if item.stop_reason == StopReason.ERROR:
                yield event("error", error={"type": "api_error", "message": f"the generation failed: {item.error}"})
                return
            for piece in close():
                yield piece
            yield event("message_delta", delta={"stop_reason": _stop_reason(item, calls), "stop_sequence": None},
                        usage=_usage(item))
            yield event("message_stop")
