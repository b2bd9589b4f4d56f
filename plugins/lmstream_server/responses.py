"""POST /v1/responses: the OpenAI Responses API, stateless (nothing is stored).

Output items: a ``reasoning`` item (reasoning text), a ``message`` item (``output_text``) and
one ``function_call`` item per tool call, in the order the model produced them. Streaming
sends ``response.created``, ``response.in_progress``, then per item ``output_item.added``,
its deltas (``output_text.delta``, ``reasoning_text.delta``,
``function_call_arguments.delta``) and ``.done`` events, ``output_item.done``, and finally
``response.completed`` (or ``response.incomplete`` at the token limit). Every event carries
a ``sequence_number``.
"""

from __future__ import annotations

import json
import time
from collections.abc import AsyncIterator
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from lmstream import (
    ChatMessage,
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

from .chat_request import check_store, parse, response_format_values, tool_choice_values, tool_specs
from .errors import APIError, bad_request, unsupported
from .generation import build_parameters, new_id, open_stream
from .sse import EventSourceResponse, sse_data
from .state import ServedModel, ServerState


class ResponsesRequest(BaseModel):
    """A /v1/responses body."""

    model_config = ConfigDict(extra="forbid")

    model: str
    input: str | list[dict[str, Any]]
    instructions: str | None = None
    tools: list[dict[str, Any]] | None = None
    tool_choice: str | dict[str, Any] | None = None
    parallel_tool_calls: bool | None = None
    max_output_tokens: int | None = Field(None, ge=1)
    temperature: float | None = Field(None, ge=0.0, le=2.0)
    top_p: float | None = Field(None, gt=0.0, le=1.0)
    stream: bool = False
    store: bool | None = None
    text: dict[str, Any] | None = None
    metadata: dict[str, str] | None = None
    user: str | None = None
    truncation: str | None = None


def _content_text(content: Any, where: str) -> str:
    if isinstance(content, str):
        return content
    if not isinstance(content, list):
        raise bad_request(f"{where} must be a string or a list of text parts", where)
    texts = []
    for index, part in enumerate(content):
        if not isinstance(part, dict) or part.get("type") not in ("input_text", "output_text", "text"):
            kind = part.get("type") if isinstance(part, dict) else type(part).__name__
            raise unsupported(f"{where}[{index}].type", f"content part {kind!r}; only text parts are supported")
        if not isinstance(part.get("text"), str):
            raise bad_request(f"{where}[{index}].text must be a string", f"{where}[{index}].text")
        texts.append(part["text"])
    return "".join(texts)


def input_messages(request: ResponsesRequest) -> list[ChatMessage]:
    """``instructions`` + ``input`` items as chat messages (function calls and outputs included)."""
    messages: list[ChatMessage] = []
    if request.instructions:
        messages.append(ChatMessage(role="system", content=request.instructions))
    if isinstance(request.input, str):
        if not request.input:
            raise bad_request("input must not be empty", "input")
        messages.append(ChatMessage(role="user", content=request.input))
        return messages
    if not request.input:
        raise bad_request("input must not be empty", "input")
    for index, item in enumerate(request.input):
        where = f"input[{index}]"
        kind = item.get("type", "message")
        if kind == "message":
            role = item.get("role")
            if role not in ("system", "developer", "user", "assistant"):
                raise bad_request(f"{where}.role must be system, developer, user or assistant", f"{where}.role")
            messages.append(ChatMessage(role=role, content=_content_text(item.get("content"), f"{where}.content")))
        elif kind == "function_call":
            call = {"id": item.get("call_id"), "type": "function",
                    "function": {"name": item.get("name"), "arguments": item.get("arguments", "{}")}}
            if not isinstance(call["id"], str) or not isinstance(item.get("name"), str):
                raise bad_request(f"{where} needs call_id and name", where)
            if messages and messages[-1].role == "assistant" and messages[-1].tool_calls is not None:
                messages[-1].tool_calls.append(call)
            else:
                messages.append(ChatMessage(role="assistant", content=None, tool_calls=[call]))
        elif kind == "function_call_output":
            output = item.get("output")
            if not isinstance(item.get("call_id"), str) or not isinstance(output, str | list):
                raise bad_request(f"{where} needs call_id and output", where)
            messages.append(ChatMessage(role="tool", tool_call_id=item["call_id"],
                                        content=_content_text(output, f"{where}.output")))
        elif kind == "reasoning":
            continue  # earlier reasoning is not replayed to the model (as chat templates drop it)
        else:
            raise unsupported(f"{where}.type", f"input item {kind!r}")
    return messages


def _function_tools(raw: list[dict[str, Any]] | None) -> list[dict[str, Any]] | None:
    if raw is None:
        return None
    tools = []
    for index, tool in enumerate(raw):
        if not isinstance(tool, dict) or tool.get("type") != "function":
            kind = tool.get("type") if isinstance(tool, dict) else None
            raise unsupported(f"tools[{index}].type", f"tool type {kind!r}; only 'function'")
        function = {k: v for k, v in tool.items() if k != "type"}
        tools.append({"type": "function", "function": function})
    return tools


def _text_format(text: dict[str, Any] | None) -> dict[str, Any]:
    if text is None:
        return {}
    extra = set(text) - {"format"}
    if extra:
        raise unsupported(f"text.{sorted(extra)[0]}")
    fmt = text.get("format")
    if fmt is None or fmt == {"type": "text"}:
        return {}
    return response_format_values(fmt, "text.format")


class ResponseBuilder:
    """Builds output items and the SSE events of one response as events arrive."""

    def __init__(self, served: ServedModel, request: ResponsesRequest) -> None:
        self.served = served
        self.request = request
        self.id = new_id("resp_")
        self.created = int(time.time())
        self.sequence = 0
        self.output: list[dict[str, Any]] = []
        self.open: dict[str, Any] | None = None  # the item being generated
        self.call_items: dict[str, dict[str, Any]] = {}
        self.reasoning_chars = 0

    def response(self, status: str, info: Info | None = None) -> dict[str, Any]:
        """The response object (``output`` as it is now)."""
        request = self.request
        body: dict[str, Any] = {
            "id": self.id, "object": "response", "created_at": self.created, "status": status,
            "model": self.served.name, "output": self.output, "error": None,
            "incomplete_details": None, "instructions": request.instructions, "metadata": request.metadata or {},
            "parallel_tool_calls": request.parallel_tool_calls is not False,
            "temperature": request.temperature, "top_p": request.top_p,
            "tool_choice": request.tool_choice or "auto", "tools": request.tools or [],
            "max_output_tokens": request.max_output_tokens, "store": False,
            "text": request.text or {"format": {"type": "text"}}, "truncation": "disabled", "usage": None,
        }
        if info is not None:
            prompt = info.stats.prompt_tokens + info.stats.cached_prompt_tokens
            body["usage"] = {
                "input_tokens": prompt,
                "input_tokens_details": {"cached_tokens": info.stats.cached_prompt_tokens},
                "output_tokens": info.stats.generated_tokens,
                "output_tokens_details": {"reasoning_tokens": 0},
                "total_tokens": prompt + info.stats.generated_tokens,
            }
            if status == "incomplete":
                body["incomplete_details"] = {"reason": "max_output_tokens"}
        return body

    def event(self, kind: str, **fields: Any) -> bytes:
        """One SSE event with the next sequence number."""
        payload = {"type": kind, "sequence_number": self.sequence, **fields}
        self.sequence += 1
        return sse_data(payload, event=kind)

    # -- items ---------------------------------------------------------------------------
    def _close_open(self, status: str = "completed") -> list[bytes]:
        item, self.open = self.open, None
        if item is None:
            return []
        index = self.output.index(item)
        out: list[bytes] = []
        if item["type"] == "message":
            part = item["content"][0]
            out.append(self.event("response.output_text.done", item_id=item["id"], output_index=index,
                                  content_index=0, text=part["text"], logprobs=[]))
            out.append(self.event("response.content_part.done", item_id=item["id"], output_index=index,
                                  content_index=0, part=part))
        elif item["type"] == "reasoning":
            part = item["content"][0]
            out.append(self.event("response.reasoning_text.done", item_id=item["id"], output_index=index,
                                  content_index=0, text=part["text"]))
        item["status"] = status
        out.append(self.event("response.output_item.done", output_index=index, item=item))
        return out

    def _start(self, item: dict[str, Any]) -> list[bytes]:
        out = self._close_open()
        self.output.append(item)
        index = len(self.output) - 1
        shown = {**item, "content": []} if "content" in item else dict(item)
        out.append(self.event("response.output_item.added", output_index=index, item=shown))
        if item["type"] == "message":
            out.append(self.event("response.content_part.added", item_id=item["id"], output_index=index,
                                  content_index=0, part={"type": "output_text", "text": "", "annotations": []}))
        self.open = item
        return out

    def text(self, text: str, channel: str) -> list[bytes]:
        """Content or reasoning text: extend the open item of that kind, or start one."""
        kind = "reasoning" if channel == "reasoning" else "message"
        out: list[bytes] = []
        if self.open is None or self.open["type"] != kind:
            if kind == "message":
                item = {"id": new_id("msg_"), "type": "message", "status": "in_progress", "role": "assistant",
                        "content": [{"type": "output_text", "text": "", "annotations": [], "logprobs": []}]}
            else:
                item = {"id": new_id("rs_"), "type": "reasoning", "status": "in_progress", "summary": [],
                        "content": [{"type": "reasoning_text", "text": ""}]}
            out += self._start(item)
        assert self.open is not None
        index = self.output.index(self.open)
        self.open["content"][0]["text"] += text
        name = "response.output_text.delta" if kind == "message" else "response.reasoning_text.delta"
        extra: dict[str, Any] = {"logprobs": []} if kind == "message" else {}
        out.append(self.event(name, item_id=self.open["id"], output_index=index, content_index=0,
                              delta=text, **extra))
        return out

    def call_delta(self, delta: ToolCallDelta) -> list[bytes]:
        """A function call while it is generated."""
        out: list[bytes] = []
        item = self.call_items.get(delta.id)
        if item is None:
            item = {"id": new_id("fc_"), "type": "function_call", "status": "in_progress", "call_id": delta.id,
                    "name": delta.name, "arguments": ""}
            self.call_items[delta.id] = item
            out += self._start(item)
        if delta.arguments_delta:
            item["arguments"] += delta.arguments_delta
            out.append(self.event("response.function_call_arguments.delta", item_id=item["id"],
                                  output_index=self.output.index(item), delta=delta.arguments_delta))
        return out

    def call(self, call: ToolCall) -> list[bytes]:
        """A complete function call (its item is started now if it had no deltas)."""
        out: list[bytes] = []
        item = self.call_items.get(call.id)
        arguments = json.dumps(call.arguments, ensure_ascii=False)
        if item is None:
            item = {"id": new_id("fc_"), "type": "function_call", "status": "in_progress", "call_id": call.id,
                    "name": call.name, "arguments": ""}
            self.call_items[call.id] = item
            out += self._start(item)
            item["arguments"] = arguments
            out.append(self.event("response.function_call_arguments.delta", item_id=item["id"],
                                  output_index=self.output.index(item), delta=arguments))
        item["arguments"] = arguments
        out.append(self.event("response.function_call_arguments.done", item_id=item["id"],
                              output_index=self.output.index(item), name=call.name, arguments=arguments))
        out += self._close_open()
        return out

    def rejected(self, text: str) -> list[bytes]:
        """Tool-call text the parser rejected: a call item it announced ends ``incomplete``;
        the text itself is content."""
        out: list[bytes] = []
        if self.open is not None and self.open["type"] == "function_call":
            out += self._close_open("incomplete")
        return out + self.text(text, "content")

    def finish(self) -> list[bytes]:
        """Close the item still open."""
        return self._close_open()


def _status(info: Info) -> str:
    return "incomplete" if info.stop_reason == StopReason.LENGTH else "completed"


async def _events(builder: ResponseBuilder, stream: EventStream[Event], single_call: bool,
                  ) -> AsyncIterator[tuple[list[bytes], Info | None]]:
    calls = 0
    async for event in stream:
        if isinstance(event, Chunk):
            if event.text:
                yield builder.text(event.text, event.channel), None
        elif isinstance(event, RejectedToolCall):
            yield builder.rejected(event.text), None
        elif isinstance(event, ToolCallDelta):
            if not (single_call and calls):
                yield builder.call_delta(event), None
        elif isinstance(event, ToolCall):
            if not (single_call and calls):
                calls += 1
                yield builder.call(event), None
                if single_call:
                    stream.cancel()
        elif isinstance(event, Info):
            yield builder.finish(), event


async def responses(state: ServerState, body: dict[str, Any]) -> Any:
    """Validate, start the generation, and answer (a response object, or an SSE response)."""
    request: ResponsesRequest = parse(ResponsesRequest, body)
    served = state.model(request.model)
    check_store(request.store)
    if request.truncation not in (None, "disabled"):
        raise unsupported("truncation", "only 'disabled'")
    values: dict[str, Any] = {"max_tokens": request.max_output_tokens or state.limits.max_tokens_default,
                              "stream_tool_calls": request.stream}
    for name in ("temperature", "top_p"):
        if getattr(request, name) is not None:
            values[name] = getattr(request, name)
    tools, extra = tool_choice_values(request.tool_choice, tool_specs(_function_tools(request.tools)))
    values.update(extra)
    values.update(_text_format(request.text))
    params = build_parameters(values, {"max_tokens": "max_output_tokens"})
    user_input = UserInput(messages=input_messages(request), tools=tools)
    single_call = request.parallel_tool_calls is False
    slot = state.acquire(1)
    try:
        stream = await open_stream(state, served, user_input, params)
    except BaseException:
        slot.release()
        raise
    builder = ResponseBuilder(served, request)
    if request.stream:
        return EventSourceResponse(_stream(builder, stream, single_call), keepalive_s=state.limits.keepalive_s,
                                   on_close=slot.release)
    try:
        info: Info | None = None
        async for _, final in _events(builder, stream, single_call):
            info = final or info
        assert info is not None
        if info.stop_reason == StopReason.ERROR:
            raise APIError(500, f"the generation failed: {info.error}", code="generation_failed")
        return builder.response(_status(info), info)
    finally:
        stream.cancel()
        slot.release()


async def _stream(builder: ResponseBuilder, stream: EventStream[Event], single_call: bool) -> AsyncIterator[bytes]:
    yield builder.event("response.created", response=builder.response("in_progress"))
    yield builder.event("response.in_progress", response=builder.response("in_progress"))
    async for pieces, info in _events(builder, stream, single_call):
        for piece in pieces:
            yield piece
        if info is not None:
            if info.stop_reason == StopReason.ERROR:
                yield builder.event("error", code="generation_failed", message=f"the generation failed: {info.error}",
                                    param=None)
                return
            status = _status(info)
            kind = "response.incomplete" if status == "incomplete" else "response.completed"
            yield builder.event(kind, response=builder.response(status, info))
