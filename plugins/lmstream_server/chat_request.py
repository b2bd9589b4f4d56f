"""OpenAI request bodies: validation and conversion to lmstream inputs and parameters.

Every field a request may carry is declared; any other is a 400 naming it ("unsupported
parameter"), and declared ones the server cannot honour are refused the same way.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from lmstream import ChatMessage, ToolSpec

from .errors import APIError, bad_request, from_validation, unsupported
from .generation import parameters_supported

MAX_STOP_STRINGS = 16


class StreamOptions(BaseModel):
    """``stream_options``."""

    model_config = ConfigDict(extra="forbid")

    include_usage: bool = False


class SamplingFields(BaseModel):
    """Fields shared by /v1/chat/completions and /v1/completions."""

    model_config = ConfigDict(extra="forbid")

    model: str
    stream: bool = False
    stream_options: StreamOptions | None = None
    max_tokens: int | None = Field(None, ge=1)
    temperature: float | None = Field(None, ge=0.0, le=2.0)
    top_p: float | None = Field(None, gt=0.0, le=1.0)
    top_k: int | None = Field(None, ge=0)
    min_p: float | None = Field(None, ge=0.0, le=1.0)
    repetition_penalty: float | None = Field(None, gt=0.0)
    seed: int | None = None
    stop: str | list[str] | None = None
    n: int = Field(1, ge=1)
    presence_penalty: float | None = Field(None, ge=-2.0, le=2.0)
    frequency_penalty: float | None = Field(None, ge=-2.0, le=2.0)
    logit_bias: dict[str, float] | None = None
    user: str | None = None


class ChatRequest(SamplingFields):
    """A /v1/chat/completions body."""

    messages: list[dict[str, Any]] = Field(min_length=1)
    tools: list[dict[str, Any]] | None = None
    tool_choice: str | dict[str, Any] | None = None
    parallel_tool_calls: bool | None = None
    max_completion_tokens: int | None = Field(None, ge=1)
    logprobs: bool | None = None
    top_logprobs: int | None = Field(None, ge=0, le=20)
    response_format: dict[str, Any] | None = None
    store: bool | None = None


def parse(model: type[BaseModel], body: dict[str, Any]) -> Any:
    """Validate ``body`` as ``model``; a 400 naming the field otherwise."""
    try:
        return model.model_validate(body)
    except ValidationError as exc:
        raise from_validation(exc) from None


def sampling_values(request: SamplingFields, max_n: int, default_max_tokens: int) -> dict[str, Any]:
    """GenerationParameters values from the shared sampling fields."""
    if request.n > max_n:
        raise bad_request(f"n is {request.n}; this server allows at most {max_n}", "n")
    values: dict[str, Any] = {"max_tokens": request.max_tokens or default_max_tokens}
    for name in ("temperature", "top_p", "top_k", "min_p", "repetition_penalty", "seed",
                 "presence_penalty", "frequency_penalty"):
        value = getattr(request, name)
        if value is not None:
            values[name] = value
    if request.stop is not None:
        stops = [request.stop] if isinstance(request.stop, str) else request.stop
        if len(stops) > MAX_STOP_STRINGS:
            raise bad_request(f"at most {MAX_STOP_STRINGS} stop strings", "stop")
        if any(not s for s in stops):
            raise bad_request("stop strings must not be empty", "stop")
        values["stop"] = tuple(stops)
    if request.logit_bias:
        bias: dict[int, float] = {}
        for key, value in request.logit_bias.items():
            if not key.lstrip("-").isdigit() or int(key) < 0:
                raise bad_request(f"logit_bias keys are token ids, got {key!r}", "logit_bias")
            if not -100.0 <= value <= 100.0:
                raise bad_request(f"logit_bias values are between -100 and 100, got {value}", "logit_bias")
            bias[int(key)] = value
        values["logit_bias"] = bias
    return values


def _text_of(content: Any, where: str, allowed: tuple[str, ...] = ("text",)) -> str | None:
    """A message's content as text: a string, or text parts joined; other part types are a 400."""
    if content is None or isinstance(content, str):
        return content
    if not isinstance(content, list):
        raise bad_request(f"{where} must be a string or a list of text parts", where)
    texts: list[str] = []
    for index, part in enumerate(content):
        if not isinstance(part, dict) or part.get("type") not in allowed:
            kind = part.get("type") if isinstance(part, dict) else type(part).__name__
            raise unsupported(f"{where}[{index}].type", f"content part {kind!r}; only text parts are supported")
        text = part.get("text")
        if not isinstance(text, str):
            raise bad_request(f"{where}[{index}].text must be a string", f"{where}[{index}].text")
        texts.append(text)
    return "".join(texts)


def chat_messages(raw: list[dict[str, Any]]) -> list[ChatMessage]:
    """OpenAI messages as ChatMessages (content parts joined to text)."""
    messages: list[ChatMessage] = []
    for index, message in enumerate(raw):
        where = f"messages[{index}]"
        if not isinstance(message, dict):
            raise bad_request(f"{where} must be an object", where)
        values = dict(message)
        values["content"] = _text_of(values.get("content"), f"{where}.content")
        if values.get("role") == "function":
            raise unsupported(f"{where}.role", "the legacy 'function' role; use 'tool'")
        try:
            messages.append(ChatMessage.model_validate(values))
        except ValidationError as exc:
            raise from_validation(exc, prefix=f"{where}.") from None
    return messages


def tool_specs(raw: list[dict[str, Any]] | None, param: str = "tools") -> list[ToolSpec] | None:
    """OpenAI tools as ToolSpecs; ``strict: true`` needs structured output, else a 400."""
    if raw is None:
        return None
    specs: list[ToolSpec] = []
    names: set[str] = set()
    for index, tool in enumerate(raw):
        where = f"{param}[{index}]"
        if not isinstance(tool, dict) or tool.get("type", "function") != "function":
            raise unsupported(f"{where}.type", "only function tools are supported")
        function = tool.get("function", tool)
        if not isinstance(function, dict):
            raise bad_request(f"{where}.function must be an object", f"{where}.function")
        function = {k: v for k, v in function.items() if k != "type"}
        if function.pop("strict", None) and not parameters_supported("response_format"):
            raise unsupported(f"{where}.function.strict", "strict schemas need structured output")
        try:
            spec = ToolSpec.model_validate(function)
        except ValidationError as exc:
            raise from_validation(exc, prefix=f"{where}.function.") from None
        if spec.name in names:
            raise bad_request(f"duplicate tool name {spec.name!r}", f"{where}.function.name")
        names.add(spec.name)
        specs.append(spec)
    return specs


def tool_choice_values(choice: str | dict[str, Any] | None, tools: list[ToolSpec] | None,
                       param: str = "tool_choice") -> tuple[list[ToolSpec] | None, dict[str, Any]]:
    """Apply ``tool_choice``: ``auto`` keeps the tools, ``none`` drops them; others need the core."""
    if choice is None or choice == "auto":
        return tools, {}
    if choice == "none":
        return None, {"tool_parser": "none"}
    if parameters_supported("tool_choice"):
        return tools, {"tool_choice": choice}
    raise unsupported(param, f"{choice!r} needs constrained decoding; 'auto' and 'none' are supported")


def response_format_values(value: dict[str, Any] | None, param: str = "response_format") -> dict[str, Any]:
    """``{"type": "text"}`` is plain generation; other formats need the core's structured output."""
    if value is None or value == {"type": "text"}:
        return {}
    if parameters_supported("response_format"):
        return {"response_format": value}
    raise unsupported(param, "structured output is not available in this build; only {'type': 'text'}")


def check_store(store: bool | None) -> None:
    """This server is stateless: ``store: true`` is refused rather than silently not stored."""
    if store:
        raise APIError(400, "this server stores nothing: 'store' must be false or absent", param="store",
                       code="unsupported_parameter")
