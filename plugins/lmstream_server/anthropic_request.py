"""Anthropic request bodies: checked (strict, bounded, valid Unicode) and split into typed turns.

Runs on a worker thread (``state.work.run``): the body is walked once for lone surrogates
(every string and key, the first one named by its path) and for nesting deeper than the
routes' bound (``bodycheck.check_body``), every list is counted against
``WireLimits``, and each message and content block is validated by its own ``WireModel``
(dispatched on ``type``), so every client mistake is a 400 naming the field as written.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, TypeVar

from pydantic import BaseModel, ValidationError

from .anthropic_wire import (
    ClearThinkingEdit,
    ClearToolUsesEdit,
    CountTokensRequest,
    DocumentBlock,
    RawMessage,
    RedactedThinkingBlock,
    TextBlock,
    TextSource,
    ThinkingBlock,
    ThinkingConfig,
    ToolChoice,
    ToolDefinition,
    ToolResultBlock,
    ToolUseBlock,
)
from .billing import strip_billing
from .bodycheck import check_body
from .errors import APIError, bad_request, field_path, unsupported
from .wire import WireLimits, check_count, kind_of

M = TypeVar("M", bound=BaseModel)

MAX_CONTEXT_EDITS = 8
"""``context_management.edits`` entries at most (the API defines two kinds)."""


@dataclass
class Turn:
    """One entry of ``messages``: its role and its validated blocks."""

    role: str
    blocks: list[Block]
    where: str


@dataclass
class ToolResult:
    """A ``tool_result`` with its content reduced to text (a context edit may replace it)."""

    tool_use_id: str
    text: str
    is_error: bool = False


Block = TextBlock | ThinkingBlock | RedactedThinkingBlock | ToolUseBlock | ToolResult
"""A content block of a turn, after validation (documents are folded into text)."""


@dataclass
class Parsed:
    """A checked request: the model object, the system texts and the turns."""

    request: CountTokensRequest
    system: list[str]
    turns: list[Turn]
    thinking: ThinkingConfig | None = None
    edits: list[ClearThinkingEdit | ClearToolUsesEdit] = field(default_factory=list)
    tools: list[ToolDefinition] | None = None
    tool_choice: ToolChoice | None = None


def validation_error(exc: ValidationError, where: str = "") -> APIError:
    """A 400 whose message and param name the full path of the first problem (as the client wrote it)."""
    errors = exc.errors()
    first = errors[0]
    path = field_path(tuple(first.get("loc", ())), where) or "body"
    if first.get("type") == "extra_forbidden":
        return unsupported(path, "this server does not support it")
    messages = [e.get("msg", "") for e in errors if (field_path(tuple(e.get("loc", ())), where) or "body") == path]
    return bad_request(f"{path}: {' or '.join(dict.fromkeys(messages))}", path, code="invalid_value")


def validate(model: type[M], value: Any, where: str) -> M:
    """``value`` as ``model``; a 400 naming ``where`` and the field inside it otherwise."""
    if not isinstance(value, dict):
        raise bad_request(f"{where} must be an object", where, code="invalid_value")
    try:
        return model.model_validate(value)
    except ValidationError as exc:
        raise validation_error(exc, where) from None


def _document_text(block: dict[str, Any], where: str) -> str:
    document = validate(DocumentBlock, block, where)
    if document.source.get("type") != "text":
        raise unsupported(f"{where}.source.type", f"document source {document.source.get('type')!r}; "
                          "this server reads only plain-text documents")
    source = validate(TextSource, document.source, f"{where}.source")
    return f"{document.title}\n\n{source.data}" if document.title else source.data


def _result_text(content: str | list[Any] | None, where: str) -> str:
    """A ``tool_result``'s content as text: a string, or text / plain-text document blocks."""
    if content is None or isinstance(content, str):
        return content or ""
    texts: list[str] = []
    for index, item in enumerate(content):
        at = f"{where}[{index}]"
        kind = item.get("type") if isinstance(item, dict) else None
        if not isinstance(item, dict):
            raise bad_request(f"{at} must be a content block object, not {type(item).__name__}", at,
                              code="invalid_value")
        if kind == "text":
            texts.append(validate(TextBlock, item, at).text)
        elif kind == "document":
            texts.append(_document_text(item, at))
        elif kind == "image":
            raise unsupported(f"{at}.type", "image blocks; this server serves text models")
        else:
            raise unsupported(f"{at}.type", f"content block {kind!r} in a tool_result")
    return "\n".join(texts)


USER_BLOCKS = {"text", "tool_result", "document"}
ASSISTANT_BLOCKS = {"text", "thinking", "redacted_thinking", "tool_use"}


def _blocks(message: RawMessage, where: str) -> list[Block]:
    if isinstance(message.content, str):
        return [TextBlock(type="text", text=message.content)]
    blocks: list[Block] = []
    allowed = ASSISTANT_BLOCKS if message.role == "assistant" else USER_BLOCKS
    if message.role == "system":
        allowed = {"text"}
    for index, raw in enumerate(message.content):
        at = f"{where}.content[{index}]"
        if not isinstance(raw, dict):
            raise bad_request(f"{at} must be a content block object, not {type(raw).__name__}", at,
                              code="invalid_value")
        kind = kind_of(raw, at)
        if kind not in allowed:
            if kind == "image":
                raise unsupported(f"{at}.type", "image blocks; this server serves text models")
            raise unsupported(f"{at}.type", f"content block {kind!r} in a {message.role} message")
        if kind == "text":
            blocks.append(validate(TextBlock, raw, at))
        elif kind == "document":
            blocks.append(TextBlock(type="text", text=_document_text(raw, at)))
        elif kind == "thinking":
            blocks.append(validate(ThinkingBlock, raw, at))
        elif kind == "redacted_thinking":
            blocks.append(validate(RedactedThinkingBlock, raw, at))
        elif kind == "tool_use":
            blocks.append(validate(ToolUseBlock, raw, at))
        else:  # tool_result
            result = validate(ToolResultBlock, raw, at)
            blocks.append(ToolResult(result.tool_use_id, _result_text(result.content, f"{at}.content"),
                                     bool(result.is_error)))
    return blocks


def _count_blocks(request: CountTokensRequest) -> int:
    count = len(request.system) if isinstance(request.system, list) else 0
    for message in request.messages:
        content = message.get("content") if isinstance(message, dict) else None
        if isinstance(content, list):
            count += len(content)
            for block in content:
                inner = block.get("content") if isinstance(block, dict) else None
                count += len(inner) if isinstance(inner, list) else 0
    return count


def _system_texts(system: str | list[Any] | None, keep_billing: bool) -> list[str]:
    if system is None:
        return []
    texts = [system] if isinstance(system, str) else [
        validate(TextBlock, block, f"system[{index}]").text for index, block in enumerate(system)]
    return texts if keep_billing else strip_billing(texts)


SERVER_TOOL_HINT = "this server runs no server tools (web search, code execution, bash, text editor...); " \
                   "declare client tools (name, description, input_schema) instead"


def _tools(raw: list[Any], limits: WireLimits) -> list[ToolDefinition]:
    check_count(raw, limits.max_tools, "tools")
    tools: list[ToolDefinition] = []
    for index, tool in enumerate(raw):
        at = f"tools[{index}]"
        kind = tool.get("type") if isinstance(tool, dict) else None
        if isinstance(tool, dict) and kind not in (None, "custom"):
            raise unsupported(f"{at}.type", f"tool type {kind!r}: {SERVER_TOOL_HINT}")
        tools.append(validate(ToolDefinition, tool, at))
    return tools


def _edits(request: CountTokensRequest) -> list[ClearThinkingEdit | ClearToolUsesEdit]:
    if request.context_management is None:
        return []
    raw = request.context_management.edits
    check_count(raw, MAX_CONTEXT_EDITS, "context_management.edits")
    edits: list[ClearThinkingEdit | ClearToolUsesEdit] = []
    for index, edit in enumerate(raw):
        at = f"context_management.edits[{index}]"
        kind = edit.get("type") if isinstance(edit, dict) else None
        if kind == "clear_thinking_20251015":
            edits.append(validate(ClearThinkingEdit, edit, at))
        elif kind == "clear_tool_uses_20250919":
            edits.append(validate(ClearToolUsesEdit, edit, at))
        else:
            raise unsupported(f"{at}.type", f"context edit {kind!r}; this server applies "
                              "clear_thinking_20251015 and clear_tool_uses_20250919")
    return edits


def parse_request(model: type[CountTokensRequest], body: dict[str, Any], limits: WireLimits,
                  keep_billing: bool = False) -> Parsed:
    """The checked request and its turns; a 400 naming the field for any client mistake."""
    check_body(body)
    for name, limit in (("messages", limits.max_messages), ("tools", limits.max_tools)):
        value = body.get(name)
        if isinstance(value, list):  # counted before validation: a huge list costs nothing more
            check_count(value, limit, name)
    try:
        request = model.model_validate(body)
    except ValidationError as exc:
        raise validation_error(exc) from None
    check_count(range(_count_blocks(request)), limits.max_content_blocks, "messages[].content")
    if request.mcp_servers:
        raise unsupported("mcp_servers", "this server connects to no MCP servers; run them as client tools")
    parsed = Parsed(request, _system_texts(request.system, keep_billing), [])
    for index, raw in enumerate(request.messages):
        where = f"messages[{index}]"
        message = validate(RawMessage, raw, where)
        if message.role not in ("user", "assistant", "system"):
            raise bad_request(f"{where}.role must be 'user', 'assistant' or 'system', not {message.role!r}",
                              f"{where}.role", code="invalid_value")
        parsed.turns.append(Turn(message.role, _blocks(message, where), where))
    if request.thinking is not None:
        parsed.thinking = validate(ThinkingConfig, request.thinking, "thinking")
        if parsed.thinking.type == "enabled" and parsed.thinking.budget_tokens is None:
            raise bad_request("thinking.budget_tokens: Field required", "thinking.budget_tokens",
                              code="invalid_value")
    parsed.edits = _edits(request)
    if request.tools is not None:
        parsed.tools = _tools(request.tools, limits)
    if request.tool_choice is not None:
        parsed.tool_choice = validate(ToolChoice, request.tool_choice, "tool_choice")
    if request.output_config is not None and request.output_config.format is not None \
            and request.output_format is not None:
        raise bad_request("give the format once: output_config.format or output_format", "output_format")
    return parsed
