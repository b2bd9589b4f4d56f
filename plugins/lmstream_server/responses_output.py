"""Output items of one response and the SSE events that build them.

Items: ``reasoning`` (reasoning text; with ``include: ["reasoning.encrypted_content"]`` also
an opaque ``encrypted_content`` the client can send back), ``message`` (``output_text``),
``function_call`` (``namespace`` set for a namespaced tool) and ``custom_tool_call``, in the
order the model produced them. Every event carries a ``sequence_number``. A failure after the
stream started is an ``error`` event followed by the terminal ``response.failed``.
"""

from __future__ import annotations

import json
import time
from typing import Any

from lmstream import Info, StopReason

from .generation import new_id
from .responses_input import encrypt_reasoning
from .sse import sse_data


class ResponseBuilder:
    """Builds output items and the SSE events of one response as the generation goes."""

    def __init__(self, model: str, echo: dict[str, Any], encrypted_reasoning: bool) -> None:
        self.model = model
        self.echo = echo
        self.encrypted_reasoning = encrypted_reasoning
        self.id = new_id("resp_")
        self.created = int(time.time())
        self.sequence = 0
        self.output: list[dict[str, Any]] = []
        self.open: dict[str, Any] | None = None
        self.call_items: dict[str, dict[str, Any]] = {}
        self.reasoning_tokens = 0
        self.finished = False

    # -- the response object -------------------------------------------------------------
    def response(self, status: str, info: Info | None = None, error: dict[str, Any] | None = None,
                 ) -> dict[str, Any]:
        """The response object (``output`` as it is now)."""
        body: dict[str, Any] = {
            "id": self.id, "object": "response", "created_at": self.created, "status": status,
            "model": self.model, "output": self.output, "error": error, "incomplete_details": None,
            **self.echo, "usage": None,
        }
        if status in ("completed", "incomplete", "failed"):
            body["completed_at"] = int(time.time())
        if info is not None:
            prompt = info.stats.prompt_tokens + info.stats.cached_prompt_tokens
            body["usage"] = {
                "input_tokens": prompt,
                "input_tokens_details": {"cached_tokens": info.stats.cached_prompt_tokens},
                "output_tokens": info.stats.generated_tokens,
                "output_tokens_details": {"reasoning_tokens": min(self.reasoning_tokens,
                                                                  info.stats.generated_tokens)},
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

    def start_events(self) -> list[bytes]:
        """``response.created`` and ``response.in_progress``."""
        return [self.event("response.created", response=self.response("in_progress")),
                self.event("response.in_progress", response=self.response("in_progress"))]

    def final_event(self, response: dict[str, Any]) -> bytes:
        """The terminal ``response.completed`` / ``response.incomplete`` event carrying
        ``response`` (``self.response(final_status(info), info)``: the object also stored)."""
        self.finished = True
        kind = "response.incomplete" if response["status"] == "incomplete" else "response.completed"
        return self.event(kind, response=response)

    def failure_events(self, message: str, code: str = "generation_failed") -> list[bytes]:
        """An ``error`` event, then the terminal ``response.failed`` (once; later calls: nothing)."""
        if self.finished:
            return []
        self.finished = True
        out = self._close_open("incomplete")
        out.append(self.event("error", code=code, message=message, param=None))
        out.append(self.event("response.failed", response=self.response("failed", error={
            "code": "server_error" if code == "generation_failed" else code, "message": message})))
        return out

    def closing_events(self, message: str) -> bytes:
        """What the transport sends when it must cut the stream (e.g. at the drain deadline)."""
        return b"".join(self.failure_events(message, "server_shutting_down"))

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
            if self.encrypted_reasoning:
                item["encrypted_content"] = encrypt_reasoning(part["text"])
        elif item["type"] == "custom_tool_call":
            out.append(self.event("response.custom_tool_call_input.done", item_id=item["id"], output_index=index,
                                  input=item["input"]))
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

    def text(self, text: str, channel: str, tokens: int = 0) -> list[bytes]:
        """Content or reasoning text: extend the open item of that kind, or start one."""
        kind = "reasoning" if channel == "reasoning" else "message"
        if kind == "reasoning":
            self.reasoning_tokens += tokens
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

    def call_delta(self, call_id: str, name: str, namespace: str | None, delta: str) -> list[bytes]:
        """A function call while it is generated."""
        out: list[bytes] = []
        item = self.call_items.get(call_id)
        if item is None:
            item = {"id": new_id("fc_"), "type": "function_call", "status": "in_progress", "call_id": call_id,
                    "name": name, "arguments": ""}
            if namespace:
                item["namespace"] = namespace
            self.call_items[call_id] = item
            out += self._start(item)
        if delta:
            item["arguments"] += delta
            out.append(self.event("response.function_call_arguments.delta", item_id=item["id"],
                                  output_index=self.output.index(item), delta=delta))
        return out

    def call(self, call_id: str, name: str, namespace: str | None, arguments: dict[str, Any]) -> list[bytes]:
        """A complete function call (its item is started now if it had no deltas)."""
        text = json.dumps(arguments, ensure_ascii=False)
        out: list[bytes] = []
        if call_id not in self.call_items:
            out += self.call_delta(call_id, name, namespace, text)
        item = self.call_items[call_id]
        item["arguments"] = text
        out.append(self.event("response.function_call_arguments.done", item_id=item["id"],
                              output_index=self.output.index(item), name=name, arguments=text))
        if self.open is item:
            out += self._close_open()
        return out

    def custom_start(self, call_id: str, name: str, namespace: str | None) -> list[bytes]:
        """Open a ``custom_tool_call`` item (its input follows as deltas)."""
        item = {"id": new_id("ctc_"), "type": "custom_tool_call", "status": "in_progress", "call_id": call_id,
                "name": name, "input": ""}
        if namespace:
            item["namespace"] = namespace
        self.call_items[call_id] = item
        return self._start(item)

    def custom_delta(self, call_id: str, delta: str) -> list[bytes]:
        """More input of an open custom tool call."""
        item = self.call_items[call_id]
        item["input"] += delta
        if not delta:
            return []
        return [self.event("response.custom_tool_call_input.delta", item_id=item["id"],
                           output_index=self.output.index(item), delta=delta)]

    def custom_done(self, call_id: str) -> list[bytes]:
        """Close a custom tool call."""
        return self._close_open() if self.open is self.call_items[call_id] else []

    def rejected(self, text: str) -> list[bytes]:
        """Tool-call text the parser rejected: an announced call item ends ``incomplete``; the text
        itself is content (never lost)."""
        out: list[bytes] = []
        if self.open is not None and self.open["type"] == "function_call":
            out += self._close_open("incomplete")
        return out + self.text(text, "content")

    def finish(self, status: str = "completed") -> list[bytes]:
        """Close the item still open (``incomplete`` when the output was cut at the token limit,
        as the API marks it)."""
        return self._close_open(status)


def final_status(info: Info) -> str:
    """``incomplete`` at the token limit, else ``completed``."""
    return "incomplete" if info.stop_reason == StopReason.LENGTH else "completed"
