"""OpenAI request bodies: validation and conversion to lmstream inputs and parameters.

Every field a request may carry is declared; any other is a 400 naming it ("unsupported
parameter"), and declared ones the server cannot honour are refused the same way.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, Field, ValidationError

from lmstream import ChatMessage, ToolSpec

from .errors import APIError, bad_request, from_validation, unsupported
from .generation import parameters_supported
from .reasoning import ReasoningEffort, incoming_reasoning
from .sampling import SamplingFields, StreamOptions, sampling_values
from .wire import WireLimits, check_count

__all__ = ["ChatRequest", "SamplingFields", "StreamOptions", "chat_messages", "check_store", "parse",
           "response_format_values", "sampling_values", "tool_choice_values", "tool_specs"]


class ChatRequest(SamplingFields):
    """A /v1/chat/completions body (strict: see ``WireModel``)."""

    messages: list[dict[str, Any]] = Field(min_length=1)
    tools: list[dict[str, Any]] | None = None
    tool_choice: str | dict[str, Any] | None = None
    parallel_tool_calls: bool | None = None
    max_completion_tokens: int | None = Field(None, ge=1)
    logprobs: bool | None = None
    top_logprobs: int | None = None
    response_format: dict[str, Any] | None = None
    store: bool | None = None
    """Accepted; chat completions are never stored (there is nothing to list or retrieve)."""
    reasoning_effort: ReasoningEffort | None = None
    verbosity: str | None = None
    """A hint for models that have one; accepted and not used."""
    prompt_cache_options: dict[str, Any] | None = None
    """Accepted; the prompt cache has its own bounds."""
    modalities: list[Literal["text"]] | None = None
    """Only text: ``["text"]`` is accepted, ``"audio"`` is a 400 naming ``modalities[i]``."""


def parse(model: type[BaseModel], body: dict[str, Any]) -> Any:
    """Validate ``body`` as ``model``; a 400 naming the field otherwise."""
    try:
        return model.model_validate(body)
    except ValidationError as exc:
        raise from_validation(exc) from None
    except RecursionError:
        raise APIError(400, "the request body nests too deeply", code="nesting_too_deep") from None


def _text_of(content: Any, where: str, allowed: tuple[str, ...] = ("text",),
             max_parts: int | None = None) -> str | None:
    """A message's content as text: a string, or text parts joined; other part types are a 400."""
    if content is None or isinstance(content, str):
        return content
    if not isinstance(content, list):
        raise bad_request(f"{where} must be a string or a list of text parts", where)
    check_count(content, max_parts or WireLimits().max_content_blocks, where)
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


def chat_messages(raw: list[dict[str, Any]], limits: WireLimits | None = None) -> list[ChatMessage]:
    """OpenAI messages as ChatMessages (content parts joined to text, at most
    ``limits.max_content_blocks`` parts per message)."""
    max_parts = (limits or WireLimits()).max_content_blocks
    messages: list[ChatMessage] = []
    for index, message in enumerate(raw):
        where = f"messages[{index}]"
        if not isinstance(message, dict):
            raise bad_request(f"{where} must be an object", where)
        values = incoming_reasoning(message)
        values["content"] = _text_of(values.get("content"), f"{where}.content", max_parts=max_parts)
        if values.get("role") == "function":
            raise unsupported(f"{where}.role", "the legacy 'function' role; use 'tool'")
        try:
            messages.append(ChatMessage.model_validate(values))
        except ValidationError as exc:
            raise from_validation(exc, prefix=f"{where}.") from None
    return messages


def tool_specs(raw: list[dict[str, Any]] | None, param: str = "tools",
               limits: WireLimits | None = None) -> list[ToolSpec] | None:
    """OpenAI tools as ToolSpecs; ``strict: true`` needs structured output, else a 400."""
    if raw is None:
        return None
    check_count(raw, (limits or WireLimits()).max_tools, param)
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
