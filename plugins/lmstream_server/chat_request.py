"""OpenAI request bodies: validation and conversion to lmstream inputs and parameters.

Every field a request may carry is declared; any other is a 400 naming it ("unsupported
parameter"), and declared ones the server cannot honour are refused the same way.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, Field, ValidationError

from lmstream import ChatMessage, GenerationParameters, ToolSpec

from .errors import APIError, bad_request, from_validation, unsupported
from .parameters import ServerDefaults, core_parameters, given
from .reasoning import ReasoningEffort, effort_settings, incoming_reasoning
from .sampling import SamplingFields, StreamOptions
from .wire import WireLimits, check_count

__all__ = ["ChatRequest", "SamplingFields", "StreamOptions", "chat_messages", "check_store", "forces_a_call",
           "parse", "response_format_values", "tool_choice_values", "tool_specs"]


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

    def to_parameters(self, defaults: ServerDefaults) -> GenerationParameters:
        """This request's GenerationParameters; the core's errors are 400s naming this request's
        field (``max_completion_tokens``, ``reasoning_effort``, ``stop[0]``...)."""
        values = self.sampling(defaults)
        fields: dict[str, str] = {}
        if self.max_completion_tokens is not None:
            values["max_tokens"] = self.max_completion_tokens
            fields["max_tokens"] = "max_completion_tokens"
        _, reasoning = effort_settings(self.reasoning_effort, values.get("max_tokens"))
        fields |= {name: "reasoning_effort" for name in reasoning}
        values |= reasoning | tool_choice_values(self.tool_choice)
        if not forces_a_call(self.tool_choice):
            values |= response_format_values(self.response_format)
        values |= given(logprobs=self.logprobs, top_logprobs=self.top_logprobs,
                        stream_tool_calls=True if self.streaming else None,
                        parallel_tool_calls=self.parallel_tool_calls)
        return core_parameters(values, fields)

    def offered_tools(self, limits: WireLimits) -> list[ToolSpec] | None:
        """The declared tools as ToolSpecs; none with ``tool_choice: "none"``."""
        specs = tool_specs(self.tools, limits=limits)
        return None if self.tool_choice == "none" else specs


def forces_a_call(tool_choice: Any) -> bool:
    """``required`` or a named function: this turn's output is a tool call, so ``response_format``
    (which shapes text content) does not apply to it (as OpenAI does; the Agents SDK sends both)."""
    return tool_choice == "required" or isinstance(tool_choice, dict)


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
    """OpenAI tools as ToolSpecs (``strict`` accepted: a forced call is constrained to its schema)."""
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
        function.pop("strict", None)
        try:
            spec = ToolSpec.model_validate(function)
        except ValidationError as exc:
            raise from_validation(exc, prefix=f"{where}.function.") from None
        if spec.name in names:
            raise bad_request(f"duplicate tool name {spec.name!r}", f"{where}.function.name")
        names.add(spec.name)
        specs.append(spec)
    return specs


def tool_choice_values(choice: str | dict[str, Any] | None) -> dict[str, Any]:
    """``tool_choice`` as core parameters: ``auto`` (or absent) keeps the default, ``none``
    turns tool-call parsing off (the tools are not offered), others go to the core."""
    if choice is None or choice == "auto":
        return {}
    if choice == "none":
        return {"tool_parser": "none"}
    return {"tool_choice": choice}


def response_format_values(value: dict[str, Any] | None) -> dict[str, Any]:
    """``{"type": "text"}`` is plain generation; other formats are the core's structured output."""
    if value is None or value == {"type": "text"}:
        return {}
    return {"response_format": value}


def check_store(store: bool | None) -> None:
    """This server is stateless: ``store: true`` is refused rather than silently not stored."""
    if store:
        raise APIError(400, "this server stores nothing: 'store' must be false or absent", param="store",
                       code="unsupported_parameter")
