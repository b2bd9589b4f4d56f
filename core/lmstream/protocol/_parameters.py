"""GenerationParameters: every knob of one generation, validated with errors naming the field.

The rules live in the field declarations once: strict types (``True`` is not a number and
``"yes"`` not a bool), no NaN or infinity, ranges as field constraints; the validators below
add only what a type cannot say (two different reasoning markers, no empty stop string).
"""

from __future__ import annotations

import operator
from collections.abc import Mapping
from typing import Annotated, Any

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    PlainSerializer,
    ValidationInfo,
    field_validator,
    model_validator,
)

from ._validation import MAX_SEED, MAX_TOKEN_ID, check_text

_CHECKED = "lmstream.checked_response_format"
"""Validation-context key: the response_format object already checked (``with_overrides``)."""


def _as_index(value: Any) -> Any:
    """An integer-like token id (a numpy integer) as an int; anything else is left to the
    strict int check (which refuses bools, floats and strings)."""
    if isinstance(value, int) or not hasattr(value, "__index__"):
        return value
    try:
        return operator.index(value)
    except TypeError:
        return value


TokenId = Annotated[int, BeforeValidator(_as_index), Field(ge=0, le=MAX_TOKEN_ID)]
"""A token id: an int (not a bool; numpy integers pass) from 0 to ``MAX_TOKEN_ID``."""


def _response_format_json(value: Any) -> Any:
    """response_format in JSON dumps: a pydantic model / dataclass becomes its json_schema dict."""
    from ._structured import response_format_dict

    return response_format_dict(value)


class GenerationParameters(BaseModel):
    """Sampling, stopping and cache settings for one generation (mlx-lm / OpenAI names)."""

    model_config = ConfigDict(extra="forbid", frozen=True, strict=True, allow_inf_nan=False)

    max_tokens: int | None = Field(256, ge=0, description="Tokens to generate at most; None: until the context is full.")
    temperature: float = Field(0.0, ge=0.0, description="0 is greedy.")
    top_p: float = Field(1.0, gt=0.0, le=1.0)
    top_k: int = Field(0, ge=0, description="0 disables top-k.")
    min_p: float = Field(0.0, ge=0.0, le=1.0)
    seed: int | None = Field(None, ge=0, le=MAX_SEED, description="Makes sampling reproducible (0 to 2**64-1).")
    repetition_penalty: float | None = Field(None, gt=0.0)
    repetition_context_size: int = Field(20, ge=1)
    presence_penalty: float | None = None
    presence_context_size: int = Field(20, ge=1)
    frequency_penalty: float | None = None
    frequency_context_size: int = Field(20, ge=1)
    logit_bias: dict[TokenId, float] | None = Field(None, description="Added to the logits of these token ids (JSON object keys: decimal strings).")
    stop: tuple[str, ...] = Field((), description="Stop strings; never emitted, end with 'stop'.")
    stop_token_ids: tuple[TokenId, ...] = Field((), description="Extra stop tokens besides the model's EOS set.")
    prefill_step_size: int = Field(2048, ge=1)
    max_kv_size: int | None = Field(None, ge=1, description="Rotating KV cache of this many tokens.")
    kv_bits: int | None = Field(None, description="Quantize the KV cache to this many bits (2, 3, 4, 5, 6 or 8).")
    kv_group_size: int = Field(64, ge=1)
    quantized_kv_start: int = Field(0, ge=0)
    tool_parser: str | None = Field(None, description="Tool-call parser name; overrides model resolution. 'none' disables parsing.")
    reasoning_markers: tuple[str, str] | None = Field(
        ("<think>", "</think>"), description="Start/end markers of reasoning text; None disables the split."
    )
    logprobs: bool = Field(False, description="Carry each chosen token's logprob on Token / Chunk events.")
    top_logprobs: int = Field(0, ge=0, le=20, description="Alternatives per token with logprobs (0-20).")
    stream_tool_calls: bool = Field(False, description="Emit ToolCallDelta events while a call is generated.")
    response_format: Annotated[Any, PlainSerializer(_response_format_json, when_used="json-unless-none")] = Field(None, description="Structured output: OpenAI shapes (text, json_object, json_schema), regex, grammar (Lark), or a pydantic model / dataclass.")
    tool_choice: str | dict[str, Any] | None = Field(None, description="'auto', 'none', 'required' or {'type': 'function', 'function': {'name': ...}}.")
    constrain_reasoning: bool = Field(False, description="Constrain from the first token, reasoning included (default: only after the reasoning closes).")
    constraint_engine: str | None = Field(None, description="Constraint engine name (default: 'llguidance', or the only one registered).")
    reasoning_channel: bool | None = Field(None, description="Split reasoning (between reasoning_markers) from the content: None only for models whose template or vocabulary has a reasoning format, True always, False never.")
    reasoning_budget: int | None = Field(None, ge=0, description="Reasoning tokens at most; when reached the reasoning is closed (its end marker forced) and the answer starts. None: unbounded, except that a constraint waiting for reasoning to close bounds it (DEFAULT_REASONING_BUDGET).")
    parallel_tool_calls: bool | None = Field(None, description="Whether one reply may hold several tool calls. None (not said): templates render parallel tool loops and the generic format's constraint allows a list, but tool_choice 'required' in the model's own call format allows exactly one call (small models repeat the call when more are allowed); True: one or more calls there too; False: exactly one everywhere.")
    speculative: bool = Field(True, description="Speculative decoding with the context's drafter (load(drafter=...)), when one is loaded; False turns it off for this generation. Outputs are the same either way.")
    parse_tool_calls: bool | None = Field(None, description="Parse tool calls: None when the request declares tools (or names tool_parser), True always, False never.")

    @field_validator("response_format", mode="before")
    @classmethod
    def _check_response_format(cls, value: Any, info: ValidationInfo) -> Any:
        if value is not None and isinstance(info.context, dict) and value is info.context.get(_CHECKED):
            return value  # this very object passed these checks when its parameters were built
        from ._structured import normalize_response_format

        return normalize_response_format(value)

    @field_validator("tool_choice", mode="before")
    @classmethod
    def _check_tool_choice(cls, value: Any) -> Any:
        from ._structured import normalize_tool_choice

        return normalize_tool_choice(value)

    @field_validator("stop", mode="before")
    @classmethod
    def _stop_as_tuple(cls, value: Any) -> Any:
        if value is None:
            return ()
        if isinstance(value, str):
            return (value,)
        return tuple(value) if isinstance(value, list) else value

    @field_validator("stop")
    @classmethod
    def _stop_not_empty(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        if any(s == "" for s in value):
            raise ValueError("stop strings must not be empty")
        check_text(list(value), "stop")
        return value

    @field_validator("stop_token_ids", mode="before")
    @classmethod
    def _ids_as_tuple(cls, value: Any) -> Any:
        if value is None:
            return ()
        return tuple(value) if isinstance(value, list | set | frozenset) else value

    @field_validator("logit_bias", mode="before")
    @classmethod
    def _decimal_keys(cls, value: Any) -> Any:
        """JSON objects have string keys: ``{"42": -100}`` means token 42 (ASCII digits only)."""
        if isinstance(value, Mapping):
            return {int(k) if isinstance(k, str) and k.isascii() and k.isdigit() else k: v
                    for k, v in value.items()}
        return value

    @field_validator("kv_bits")
    @classmethod
    def _kv_bits_range(cls, value: int | None) -> int | None:
        if value is not None and value not in (2, 3, 4, 5, 6, 8):
            raise ValueError("kv_bits must be one of 2, 3, 4, 5, 6, 8")
        return value

    @field_validator("reasoning_markers", mode="before")
    @classmethod
    def _markers_as_tuple(cls, value: Any) -> Any:
        return tuple(value) if isinstance(value, list) else value

    @field_validator("reasoning_markers")
    @classmethod
    def _markers_differ(cls, value: tuple[str, str] | None) -> tuple[str, str] | None:
        if value is not None and (not value[0] or not value[1]):
            raise ValueError("reasoning markers must be two non-empty strings")
        if value is not None and value[0] == value[1]:
            raise ValueError(f"reasoning markers must be two different strings, got {value[0]!r} twice")
        return value

    @field_validator("tool_parser")
    @classmethod
    def _parser_named(cls, value: str | None) -> str | None:
        if value is not None and not value.strip():
            raise ValueError("tool_parser must be a parser name ('none' disables parsing), not empty")
        return value

    @model_validator(mode="after")
    def _top_logprobs_need_logprobs(self) -> GenerationParameters:
        if self.top_logprobs and not self.logprobs:
            raise ValueError("top_logprobs needs logprobs=True")
        return self

    @model_validator(mode="after")
    def _kv_quantization_needs_unbounded_cache(self) -> GenerationParameters:
        if self.kv_bits is not None and self.max_kv_size is not None:
            raise ValueError("kv_bits cannot be combined with max_kv_size (a rotating cache cannot be quantized)")
        return self

    def with_overrides(self, **overrides: Any) -> GenerationParameters:
        """A validated copy with ``overrides`` applied (unknown names raise). The current
        ``response_format`` is not checked again (a schema is checked once per request, however
        many choices copy it); an overriding one is."""
        if not overrides:
            return self
        values = {name: getattr(self, name) for name in type(self).model_fields}
        return GenerationParameters.model_validate({**values, **overrides},
                                                   context={_CHECKED: self.response_format})


def resolve_parameters(parameters: GenerationParameters | dict[str, Any] | None, overrides: dict[str, Any]) -> GenerationParameters:
    """Accept parameters as a model, a dict or None, plus keyword overrides, and validate once."""
    if parameters is None:
        return GenerationParameters(**overrides)
    if isinstance(parameters, dict):
        return GenerationParameters.model_validate({**parameters, **overrides})
    if not isinstance(parameters, GenerationParameters):
        raise TypeError(f"parameters must be GenerationParameters or a dict, not {type(parameters).__name__}")
    return parameters.with_overrides(**overrides)
