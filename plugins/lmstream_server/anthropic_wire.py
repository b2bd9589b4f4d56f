"""Strict models of every Anthropic Messages request shape (one per object, all ``WireModel``).

Unions (content blocks, tools, tool_choice, thinking, context edits) are dispatched on their
``type`` by ``anthropic_request`` so that an error names the field as the client wrote it
(``messages[2].content[0].text``), never a pydantic union tag. Fields the real API defines
and this server cannot honour are declared here and refused there, with a 400 naming them.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field

from lmstream import GenerationParameters

from .parameters import ServerDefaults, core_parameters, given, stop_strings
from .wire import WireModel


class CacheControl(WireModel):
    """``cache_control``: a prompt-caching hint (this server caches prefixes by itself)."""

    type: Literal["ephemeral"]
    ttl: Literal["5m", "1h"] | None = None


class TextBlock(WireModel):
    """``{"type": "text", "text": ...}``."""

    type: Literal["text"]
    text: str
    cache_control: CacheControl | None = None
    citations: list[dict[str, Any]] | None = None


class ThinkingBlock(WireModel):
    """An assistant's earlier ``thinking`` (sent back with its signature)."""

    type: Literal["thinking"]
    thinking: str
    signature: str | None = None
    cache_control: CacheControl | None = None


class RedactedThinkingBlock(WireModel):
    """An assistant's ``redacted_thinking``: opaque to this server, left out of the prompt."""

    type: Literal["redacted_thinking"]
    data: str


class ToolUseBlock(WireModel):
    """An assistant's ``tool_use`` (a call of a client tool)."""

    type: Literal["tool_use"]
    id: str = Field(min_length=1)
    name: str = Field(min_length=1)
    input: dict[str, Any]
    cache_control: CacheControl | None = None
    caller: dict[str, Any] | None = None
    toolset_name: str | None = None


class ToolResultBlock(WireModel):
    """A user's ``tool_result``; ``content`` is a string or a list of blocks (checked one by one)."""

    type: Literal["tool_result"]
    tool_use_id: str = Field(min_length=1)
    content: str | list[Any] | None = None
    is_error: bool | None = None
    cache_control: CacheControl | None = None
    toolset_name: str | None = None


class TextSource(WireModel):
    """A document's plain-text source (the one document kind a text model can read)."""

    type: Literal["text"]
    media_type: Literal["text/plain"]
    data: str


class DocumentBlock(WireModel):
    """A ``document`` block; only a plain-text source can be honoured (checked by the converter)."""

    type: Literal["document"]
    source: dict[str, Any]
    title: str | None = None
    context: str | None = None
    citations: dict[str, Any] | None = None
    cache_control: CacheControl | None = None


class ToolDefinition(WireModel):
    """A client (custom) tool."""

    name: str = Field(min_length=1)
    input_schema: dict[str, Any]
    type: Literal["custom"] | None = None
    description: str | None = None
    cache_control: CacheControl | None = None
    strict: bool | None = None
    defer_loading: bool | None = None
    eager_input_streaming: bool | None = None
    input_examples: list[dict[str, Any]] | None = None
    allowed_callers: list[str] | None = None


class ToolChoice(WireModel):
    """``tool_choice``: auto / any / tool (with ``name``) / none."""

    type: Literal["auto", "any", "tool", "none"]
    name: str | None = None
    disable_parallel_tool_use: bool | None = None


class ThinkingConfig(WireModel):
    """``thinking``: enabled (with ``budget_tokens``), adaptive, or disabled."""

    type: Literal["enabled", "adaptive", "disabled"]
    budget_tokens: int | None = Field(None, ge=1)
    display: Literal["summarized", "omitted"] | None = None


class OutputFormat(WireModel):
    """``output_config.format``: JSON-schema structured output."""

    type: Literal["json_schema"]
    schema_: dict[str, Any] = Field(alias="schema")


class OutputConfig(WireModel):
    """``output_config``: the output format and the effort."""

    effort: Literal["low", "medium", "high", "xhigh", "max"] | None = None
    format: OutputFormat | None = None


class KeepTurns(WireModel):
    """``keep`` of an edit: ``{"type": "thinking_turns" | "tool_uses", "value": N}``."""

    type: Literal["thinking_turns", "tool_uses"]
    value: int = Field(ge=0)


class TokenCount(WireModel):
    """``trigger`` / ``clear_at_least`` of a tool-clearing edit."""

    type: Literal["input_tokens", "tool_uses"]
    value: int = Field(ge=0)


class ClearThinkingEdit(WireModel):
    """``clear_thinking_20251015``: keep the thinking of the last N assistant turns (or all)."""

    type: Literal["clear_thinking_20251015"]
    keep: KeepTurns | Literal["all"] | None = None


class ClearToolUsesEdit(WireModel):
    """``clear_tool_uses_20250919``: past a trigger, old tool results are replaced by a placeholder."""

    type: Literal["clear_tool_uses_20250919"]
    trigger: TokenCount | None = None
    keep: KeepTurns | None = None
    clear_at_least: TokenCount | None = None
    exclude_tools: list[str] | None = None
    clear_tool_inputs: bool | None = None


class ContextManagement(WireModel):
    """``context_management``: edits applied to the history before it is rendered."""

    edits: list[dict[str, Any]] = Field(default_factory=list)


class Metadata(WireModel):
    """``metadata``: the end user's id (used for nothing but accepted, as the API does)."""

    user_id: str | None = None


class RawMessage(WireModel):
    """One entry of ``messages``; its content is checked block by block by the converter."""

    role: str
    content: str | list[Any]


class CountTokensRequest(WireModel):
    """A /v1/messages/count_tokens body."""

    model: str
    messages: list[Any] = Field(min_length=1)
    system: str | list[Any] | None = None
    tools: list[Any] | None = None
    tool_choice: dict[str, Any] | None = None
    thinking: dict[str, Any] | None = None
    output_config: OutputConfig | None = None
    output_format: OutputFormat | None = None
    context_management: ContextManagement | None = None
    cache_control: CacheControl | None = None
    mcp_servers: list[Any] | None = None


class MessagesRequest(CountTokensRequest):
    """A /v1/messages body."""

    max_tokens: int = Field(ge=1)
    stream: bool = False
    stop_sequences: list[str] | None = None
    temperature: float | None = Field(None, ge=0.0, le=1.0)
    top_p: float | None = Field(None, ge=0.0, le=1.0)
    top_k: int | None = Field(None, ge=0)
    metadata: Metadata | None = None
    service_tier: Literal["auto", "standard_only"] | None = None
    container: str | dict[str, Any] | None = None
    inference_geo: str | None = None
    speed: Literal["standard", "fast"] | None = None
    diagnostics: dict[str, Any] | None = None
    user_profile_id: str | None = None
    workspace_id: str | None = None

    def to_parameters(self, defaults: ServerDefaults, tool_values: dict[str, Any],
                      reasoning_budget: int | None) -> GenerationParameters:
        """This request's GenerationParameters (``tool_values``: the resolved ``tool_choice`` as core
        parameters); a core error is a 400 naming this request's field (``stop_sequences[0]``,
        ``output_config.format.schema``)."""
        output = self.output_config.format if self.output_config is not None else None
        output = output or self.output_format
        response_format = None if output is None else {
            "type": "json_schema", "json_schema": {"name": "output", "schema": output.schema_, "strict": True}}
        values = given(max_tokens=self.max_tokens, stream_tool_calls=self.stream, temperature=self.temperature,
                       top_p=self.top_p, top_k=self.top_k, response_format=response_format,
                       stop=stop_strings(self.stop_sequences, defaults.wire, "stop_sequences"),
                       reasoning_budget=reasoning_budget)
        return core_parameters(values | tool_values, FIELDS)


FIELDS = {"stop": "stop_sequences", "response_format.json_schema.schema": "output_config.format.schema",
          "response_format": "output_config.format", "reasoning_budget": "thinking.budget_tokens"}
"""Core parameter -> the Messages field it comes from (named in errors)."""
