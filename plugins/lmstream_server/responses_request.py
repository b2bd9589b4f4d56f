"""The /v1/responses request body: strict models for every field the OpenAI Responses API,
the OpenAI Agents SDK and Codex send.

Every model derives from ``WireModel`` (no coercion, unknown fields refused). ``input`` items
and ``tools`` stay raw dicts here: ``responses_input`` and ``responses_tools`` validate each
one with its own model so an error names ``input[3].arguments`` or ``tools[2].format``.
Lone surrogates anywhere in the body (and nesting past the routes' bound) are a 400 naming
the first offending path (``bodycheck.check_body``), before anything could try to encode them.
"""

from __future__ import annotations

from typing import Any, Literal, Protocol

from pydantic import Field, ValidationError, model_validator

from lmstream import GenerationParameters

from .errors import bad_request, from_validation
from .parameters import ServerDefaults, core_parameters, given
from .wire import WireModel

HONORED_INCLUDES = frozenset({"reasoning.encrypted_content"})
"""``include`` values this server fills (others are a 400 naming them)."""

METADATA_MAX_PAIRS = 16
METADATA_MAX_KEY = 64
METADATA_MAX_VALUE = 512
"""OpenAI's limits on ``metadata`` (16 pairs, keys up to 64 and values up to 512 characters)."""


REASONING_BUDGETS = {"minimal": 256, "low": 1024, "medium": 4096, "high": 16384, "xhigh": 32768}
"""``reasoning.effort`` -> reasoning token budget."""


class ToolChoiceParts(Protocol):
    """What ``to_parameters`` reads of a resolved ``tool_choice`` (``responses_tools.Choice``)."""

    @property
    def none(self) -> bool: ...
    @property
    def forced_custom(self) -> str | None: ...
    @property
    def grammar(self) -> dict[str, Any] | None: ...
    @property
    def core_choice(self) -> str | dict[str, Any] | None: ...


class JSONSchemaFormat(WireModel):
    """``text.format`` of type ``json_schema``, in the Responses shape (flat, not nested)."""

    type: Literal["json_schema"]
    name: str = Field(min_length=1, max_length=64)
    schema_: dict[str, Any] = Field(alias="schema")
    description: str | None = None
    strict: bool | None = None


class SimpleFormat(WireModel):
    """``text.format`` of type ``text`` or ``json_object``."""

    type: Literal["text", "json_object"]


class TextConfig(WireModel):
    """``text``: the output format and a verbosity hint."""

    format: JSONSchemaFormat | SimpleFormat | None = None
    verbosity: Literal["low", "medium", "high"] | None = None

    @model_validator(mode="before")
    @classmethod
    def _pick_format(cls, data: Any) -> Any:
        """Validate ``format`` by its ``type`` (one clear error instead of a union's two)."""
        if isinstance(data, dict) and isinstance(data.get("format"), dict):
            fmt = data["format"]
            kind = fmt.get("type")
            formats: dict[str, type[WireModel]] = {"json_schema": JSONSchemaFormat, "text": SimpleFormat,
                                                   "json_object": SimpleFormat}
            model = formats.get(kind) if isinstance(kind, str) else None
            if model is not None:
                try:
                    return {**data, "format": model.model_validate(fmt)}
                except ValidationError as exc:
                    raise from_validation(exc, prefix="text.format.") from None
            raise bad_request(f"text.format.type must be 'text', 'json_object' or 'json_schema', not {kind!r}",
                              "text.format.type", "invalid_value")
        return data


class ReasoningConfig(WireModel):
    """``reasoning``: effort (mapped to the template's thinking switch and a token budget),
    summary (accepted; reasoning is returned as reasoning text) and Codex's ``context``."""

    effort: Literal["none", "minimal", "low", "medium", "high", "xhigh"] | None = None
    summary: Literal["auto", "concise", "detailed", "none"] | None = None
    generate_summary: Literal["auto", "concise", "detailed", "none"] | None = None
    context: str | None = Field(None, max_length=64)


class StreamOptions(WireModel):
    """``stream_options`` of the Responses API."""

    include_obfuscation: bool | None = None


class ResponsesRequest(WireModel):
    """A /v1/responses body."""

    model: str
    input: str | list[Any] | None = None
    instructions: str | None = None
    tools: list[Any] | None = None
    tool_choice: str | dict[str, Any] | None = None
    parallel_tool_calls: bool | None = None
    max_output_tokens: int | None = Field(None, ge=1)
    max_tool_calls: int | None = Field(None, ge=1)
    temperature: float | None = Field(None, ge=0.0, le=2.0)
    top_p: float | None = Field(None, gt=0.0, le=1.0)
    top_logprobs: int | None = Field(None, ge=0, le=0)
    stream: bool = False
    stream_options: StreamOptions | None = None
    store: bool | None = None
    background: Literal[False] | None = None
    text: TextConfig | None = None
    reasoning: ReasoningConfig | None = None
    include: list[str] | None = None
    previous_response_id: str | None = Field(None, min_length=1, max_length=256)
    truncation: Literal["auto", "disabled"] | None = None
    metadata: dict[str, str] | None = None
    client_metadata: dict[str, str] | None = None
    user: str | None = Field(None, max_length=512)
    safety_identifier: str | None = Field(None, max_length=512)
    prompt_cache_key: str | None = Field(None, max_length=1024)
    prompt_cache_retention: Literal["in_memory", "24h"] | None = None
    service_tier: Literal["auto", "default", "flex", "scale", "priority"] | None = None

    @model_validator(mode="after")
    def _checks(self) -> ResponsesRequest:
        for index, value in enumerate(self.include or ()):
            if value not in HONORED_INCLUDES:
                raise bad_request(f"include[{index}] is {value!r}; this server can include only "
                                  f"{sorted(HONORED_INCLUDES)}", f"include[{index}]", "unsupported_parameter")
        if self.metadata is not None:
            if len(self.metadata) > METADATA_MAX_PAIRS:
                raise bad_request(f"metadata has {len(self.metadata)} pairs; at most {METADATA_MAX_PAIRS}",
                                  "metadata", "invalid_value")
            for key, value in self.metadata.items():
                if len(key) > METADATA_MAX_KEY or len(value) > METADATA_MAX_VALUE:
                    raise bad_request(f"metadata keys are at most {METADATA_MAX_KEY} and values at most "
                                      f"{METADATA_MAX_VALUE} characters", f"metadata.{key[:64]}", "invalid_value")
        if self.input is None and self.previous_response_id is None:
            raise bad_request("input is required", "input", "invalid_value")
        return self

    def to_parameters(self, defaults: ServerDefaults, choice: ToolChoiceParts) -> GenerationParameters:
        """This request's GenerationParameters under the resolved ``tool_choice``: ``text.format``
        as ``response_format``, a forced custom tool's grammar as the whole output's format,
        ``reasoning.effort`` as a reasoning budget; core errors name this request's field."""
        fmt = self.text.format if self.text is not None else None
        response_format: dict[str, Any] | None = None
        if isinstance(fmt, JSONSchemaFormat):
            inner: dict[str, Any] = {"name": fmt.name, "schema": fmt.schema_}
            if fmt.strict is not None:
                inner["strict"] = fmt.strict
            response_format = {"type": "json_schema", "json_schema": inner}
        elif fmt is not None and fmt.type == "json_object":
            response_format = {"type": "json_object"}
        values = given(max_tokens=self.max_output_tokens or defaults.max_tokens, temperature=self.temperature,
                       top_p=self.top_p, stream_tool_calls=self.stream, response_format=response_format)
        if choice.none:
            values["tool_parser"] = "none"
        elif choice.forced_custom is not None:
            if response_format is not None:
                raise bad_request("a forced custom tool and text.format cannot be combined", "tool_choice",
                                  "invalid_value")
            values |= given(tool_parser="none", stream_tool_calls=False, response_format=choice.grammar)
        elif choice.core_choice is not None:
            values["tool_choice"] = choice.core_choice
        effort = self.reasoning.effort if self.reasoning is not None else None
        if effort is not None and effort != "none":
            values["reasoning_budget"] = REASONING_BUDGETS[effort]
        fields = {"max_tokens": "max_output_tokens", "reasoning_budget": "reasoning.effort",
                  "response_format.json_schema.schema": "text.format.schema",
                  "response_format": "text.format"}
        if choice.forced_custom is not None:
            fields["response_format"] = "tool_choice"
        return core_parameters(values, fields)

    @property
    def wants_encrypted_reasoning(self) -> bool:
        """``include`` asks for ``reasoning.encrypted_content``."""
        return "reasoning.encrypted_content" in (self.include or ())


def parse_request(body: dict[str, Any]) -> ResponsesRequest:
    """``body`` as a ResponsesRequest; a 400 naming the field otherwise."""
    try:
        return ResponsesRequest.model_validate(body)
    except ValidationError as exc:
        raise from_validation(exc) from None

