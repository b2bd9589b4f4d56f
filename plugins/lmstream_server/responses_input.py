"""Responses ``input`` items as chat messages, each item validated by its own strict model.

Items: ``message`` (roles user / system / developer / assistant; text parts), ``function_call``
/ ``function_call_output``, ``custom_tool_call`` / ``custom_tool_call_output`` (a custom call
is shown to the model as a call with ``{"input": ...}``, as its tool is declared),
``reasoning`` (its text, or the ``encrypted_content`` this server returned, becomes the next
assistant turn's ``reasoning_content``; content another server encrypted cannot be read and
is dropped), ``additional_tools`` (tools joining the request's tools). Items only hosted tools
produce (``web_search_call``, ``tool_search_output``, ...) carry nothing the model can use and
are skipped. Any other type is a 400 naming ``input[i].type``.
"""

from __future__ import annotations

import base64
import binascii
import json
import logging
from typing import Any, Literal

from pydantic import Field, ValidationError

from lmstream import ChatMessage

from .errors import bad_request, from_validation, unsupported
from .responses_tools import ToolCollector, ToolSet
from .wire import WireModel, check_count

logger = logging.getLogger("lmstream.server")

ENCRYPTED_PREFIX = "lmstream-r1."
"""Prefix of the ``encrypted_content`` this server writes (base64url of the reasoning JSON)."""

HOSTED_ITEM_TYPES = frozenset({
    "web_search_call", "file_search_call", "computer_call", "computer_call_output", "image_generation_call",
    "code_interpreter_call", "local_shell_call", "local_shell_call_output", "shell_call", "shell_call_output",
    "apply_patch_call", "apply_patch_call_output", "mcp_call", "mcp_list_tools", "mcp_approval_request",
    "mcp_approval_response", "tool_search_call", "tool_search_output", "compaction", "compaction_summary",
    "ghost_snapshot", "mcp_tool_call", "mcp_tool_call_output",
})
TEXT_PARTS = ("input_text", "output_text", "text", "refusal", "summary_text", "reasoning_text")


class MessageItem(WireModel):
    """A ``message`` item."""

    type: Literal["message"] | None = None
    id: str | None = None
    role: Literal["user", "system", "developer", "assistant"]
    content: str | list[dict[str, Any]]
    status: str | None = None
    phase: str | None = None


class FunctionCallItem(WireModel):
    """A ``function_call`` item (arguments are a JSON string, as the API returns them)."""

    type: Literal["function_call"]
    id: str | None = None
    call_id: str
    name: str = Field(min_length=1)
    arguments: str
    namespace: str | None = None
    status: str | None = None


class CustomToolCallItem(WireModel):
    """A ``custom_tool_call`` item."""

    type: Literal["custom_tool_call"]
    id: str | None = None
    call_id: str
    name: str = Field(min_length=1)
    input: str
    namespace: str | None = None
    status: str | None = None


class CallOutputItem(WireModel):
    """A ``function_call_output`` or ``custom_tool_call_output`` item."""

    type: Literal["function_call_output", "custom_tool_call_output"]
    id: str | None = None
    call_id: str
    output: str | list[dict[str, Any]]
    name: str | None = None
    status: str | None = None


class ReasoningItem(WireModel):
    """A ``reasoning`` item sent back."""

    type: Literal["reasoning"]
    id: str | None = None
    summary: list[dict[str, Any]] = Field(default_factory=list)
    content: list[dict[str, Any]] | None = None
    encrypted_content: str | None = None
    status: str | None = None


class AdditionalToolsItem(WireModel):
    """Codex's ``additional_tools`` item: tools declared inside the input."""

    type: Literal["additional_tools"]
    id: str | None = None
    role: str | None = None
    tools: list[dict[str, Any]]


ITEM_MODELS: dict[str, type[WireModel]] = {
    "message": MessageItem, "function_call": FunctionCallItem, "custom_tool_call": CustomToolCallItem,
    "function_call_output": CallOutputItem, "custom_tool_call_output": CallOutputItem,
    "reasoning": ReasoningItem, "additional_tools": AdditionalToolsItem,
}


def encrypt_reasoning(text: str) -> str:
    """The opaque ``encrypted_content`` of a reasoning item (readable only by this server kind)."""
    payload = json.dumps({"text": text}, ensure_ascii=False).encode()
    return ENCRYPTED_PREFIX + base64.urlsafe_b64encode(payload).decode()


def decrypt_reasoning(value: str) -> str | None:
    """The reasoning text of ``encrypted_content``, or None when another server wrote it."""
    if not value.startswith(ENCRYPTED_PREFIX):
        return None
    try:
        payload = json.loads(base64.urlsafe_b64decode(value[len(ENCRYPTED_PREFIX):].encode()))
    except (ValueError, binascii.Error):
        return None
    text = payload.get("text") if isinstance(payload, dict) else None
    return text if isinstance(text, str) else None


def content_text(content: str | list[dict[str, Any]], where: str) -> str:
    """Text of a string or a list of text parts; other part types are a 400 naming the part."""
    if isinstance(content, str):
        return content
    texts: list[str] = []
    for index, part in enumerate(content):
        kind = part.get("type")
        if kind not in TEXT_PARTS:
            raise unsupported(f"{where}[{index}].type", f"content part {kind!r}; only text parts are supported")
        text = part.get("text", part.get("refusal"))
        if not isinstance(text, str):
            raise bad_request(f"{where}[{index}].text must be a string", f"{where}[{index}].text", "invalid_value")
        texts.append(text)
    return "".join(texts)


class InputConverter:
    """Folds items into chat messages; consecutive calls share one assistant message."""

    def __init__(self, collector: ToolCollector, max_parts: int = 10_000) -> None:
        self.collector = collector
        self.max_parts = max_parts
        self.messages: list[ChatMessage] = []
        self.reasoning: list[str] = []

    @property
    def tools(self) -> ToolSet:
        """The tools collected so far (the request's, then additional_tools items')."""
        return self.collector.tools

    def add_items(self, items: list[Any], where: str = "input") -> None:
        """Convert a list of raw items (``where`` names the list in errors)."""
        for index, raw in enumerate(items):
            self.add_item(raw, f"{where}[{index}]")

    def add_item(self, raw: Any, where: str) -> None:
        """Convert one raw item."""
        if not isinstance(raw, dict):
            raise bad_request(f"{where} must be an object", where, "invalid_value")
        kind = raw.get("type", "message")
        if isinstance(kind, str) and kind in HOSTED_ITEM_TYPES:
            return
        model = ITEM_MODELS.get(kind) if isinstance(kind, str) else None
        if model is None:
            raise unsupported(f"{where}.type", f"input item {kind!r}")
        try:
            item = model.model_validate(raw)
        except ValidationError as exc:
            raise from_validation(exc, prefix=f"{where}.") from None
        for name in ("content", "output", "summary"):
            parts = getattr(item, name, None)
            if isinstance(parts, list):
                check_count(parts, self.max_parts, f"{where}.{name}")
        if isinstance(item, MessageItem):
            self._message(item, where)
        elif isinstance(item, FunctionCallItem):
            self._call(item.call_id, self.tools.model_name(item.name, item.namespace), item.arguments)
        elif isinstance(item, CustomToolCallItem):
            self._call(item.call_id, self.tools.model_name(item.name, item.namespace),
                       json.dumps({"input": item.input}, ensure_ascii=False))
        elif isinstance(item, CallOutputItem):
            self._append(ChatMessage(role="tool", tool_call_id=item.call_id,
                                     content=content_text(item.output, f"{where}.output")))
        elif isinstance(item, ReasoningItem):
            self._reasoning(item, where)
        elif isinstance(item, AdditionalToolsItem):
            self.collector.add_all(item.tools, f"{where}.tools")

    def _append(self, message: ChatMessage) -> None:
        self.messages.append(message)

    def _message(self, item: MessageItem, where: str) -> None:
        text = content_text(item.content, f"{where}.content")
        role = "system" if item.role == "developer" else item.role
        if role == "assistant" and self.reasoning:
            self._append(ChatMessage(role="assistant", content=text, reasoning_content="".join(self.reasoning)))
            self.reasoning = []
            return
        self._append(ChatMessage(role=role, content=text))

    def _call(self, call_id: str, name: str, arguments: str) -> None:
        call = {"id": call_id, "type": "function", "function": {"name": name, "arguments": arguments}}
        last = self.messages[-1] if self.messages else None
        if last is not None and last.role == "assistant" and last.tool_calls is not None:
            last.tool_calls.append(call)
            return
        reasoning = "".join(self.reasoning) or None
        self.reasoning = []
        self._append(ChatMessage(role="assistant", content=None, tool_calls=[call], reasoning_content=reasoning))

    def _reasoning(self, item: ReasoningItem, where: str) -> None:
        parts = item.content or []
        text = "".join(content_text([part], f"{where}.content") for part in parts)
        if not text and item.encrypted_content is not None:
            decoded = decrypt_reasoning(item.encrypted_content)
            if decoded is None:
                logger.debug("%s.encrypted_content was not written by lmstream; dropped", where)
            text = decoded or ""
        if text:
            self.reasoning.append(text)
