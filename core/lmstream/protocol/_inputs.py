"""Input models: ChatMessage, ToolSpec, ChatTemplateOptions, UserInput and the prepared LMInput.

Types are strict (``add_generation_prompt="no"`` is an error, not True), as in every lmstream
model; a tuple given where a list is declared is taken as that list.
"""

from __future__ import annotations

import copy
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, PrivateAttr, field_validator, model_validator

from ._toolschema import check_tool_name, from_parameter_definitions, json_schema

Role = Literal["system", "developer", "user", "assistant", "tool"]
STRICT = ConfigDict(strict=True, allow_inf_nan=False)
"""The validation every input model shares (``extra`` differs: messages and tools keep theirs)."""


def _listed(value: Any) -> Any:
    """A tuple as the list the field declares (strict types refuse it otherwise)."""
    return list(value) if isinstance(value, tuple) else value


class ChatMessage(BaseModel):
    """One chat message in OpenAI shape; extra keys are kept and passed to templates."""

    model_config = ConfigDict(**STRICT, extra="allow")

    role: Role
    content: str | list[dict[str, Any]] | None = None
    tool_calls: list[dict[str, Any]] | None = None
    tool_call_id: str | None = None
    name: str | None = None
    reasoning_content: str | None = None

    @field_validator("content", "tool_calls", mode="before")
    @classmethod
    def _tuples_as_lists(cls, value: Any) -> Any:
        return _listed(value)

    @model_validator(mode="after")
    def _has_payload(self) -> ChatMessage:
        if self.content is None and not self.tool_calls and self.reasoning_content is None:
            raise ValueError(f"a {self.role!r} message needs content or tool_calls")
        return self

    @model_validator(mode="after")
    def _valid_unicode(self) -> ChatMessage:
        from ._validation import check_text

        check_text(self.content, "content")
        check_text(self.reasoning_content, "reasoning_content")
        check_text(self.name, "name")
        check_text(self.tool_call_id, "tool_call_id")
        check_text(self.tool_calls, "tool_calls")
        check_text(self.model_extra, "message")
        from ._validation import check_tool_calls

        check_tool_calls(self.tool_calls)
        return self

    def to_template_dict(self) -> dict[str, Any]:
        """The dict a chat template sees: None fields dropped, except a ``content`` given as
        None (an assistant tool call's ``content: null``), which templates see as transformers
        does (templates that cannot render it get ``""``: docs/chat-templates.md)."""
        data = self.model_dump(exclude_none=True)
        if self.content is None and "content" in self.model_fields_set:
            data = {"role": data.pop("role"), "content": None, **data}
        return data


class ToolSpec(BaseModel):
    """A tool the model may call. Accepts OpenAI-style ``{"type": "function", "function": {...}}``,
    plain ``{"name", "description", "parameters"}`` dicts and Cohere's ``parameter_definitions``.

    Extra keys (``strict``, ``parameter_definitions``, ...) are kept, and templates get the tool
    dict exactly as it was given (``to_openai``), so a render equals transformers' for the same
    input. Type aliases in the schema (``"float"``, ``"int"``, ``"dict"``) are accepted and mean
    their JSON type (``toolschema.json_schema``); an unknown type or a name no template can
    render (``toolschema.TOOL_NAME``) is an error here, naming the field.
    """

    model_config = ConfigDict(**STRICT, extra="allow")

    name: str = Field(min_length=1)
    description: str = ""
    parameters: dict[str, Any] = Field(default_factory=lambda: {"type": "object", "properties": {}})
    _source: dict[str, Any] | None = PrivateAttr(None)

    @model_validator(mode="wrap")
    @classmethod
    def _keep_source(cls, value: Any, handler: Any) -> Any:
        spec = handler(value)
        if isinstance(value, dict) and isinstance(spec, ToolSpec):
            spec._source = copy.deepcopy(value)
        return spec

    @model_validator(mode="before")
    @classmethod
    def _accept_openai_shape(cls, value: Any) -> Any:
        if isinstance(value, dict) and "function" in value:
            if value.get("type", "function") != "function":
                raise ValueError(f"unsupported tool type {value.get('type')!r}; only 'function'")
            function = value["function"]
            if not isinstance(function, dict):
                raise ValueError("'function' must be an object with name, description, parameters")
            value = function
        if isinstance(value, dict) and "parameters" not in value and "parameter_definitions" in value:
            value = {**value, "parameters": from_parameter_definitions(value["parameter_definitions"])}
        if isinstance(value, dict) and value.get("description", "") is None:
            value = {**value, "description": ""}
        return value

    @field_validator("name")
    @classmethod
    def _usable_name(cls, value: str) -> str:
        return check_tool_name(value)

    @field_validator("parameters")
    @classmethod
    def _known_types(cls, value: dict[str, Any]) -> dict[str, Any]:
        json_schema(value)  # raises on a type that means nothing, naming where
        return value

    def __eq__(self, other: object) -> bool:
        """Equal fields and extra keys (how the dict was spelled does not matter)."""
        if not isinstance(other, ToolSpec):
            return NotImplemented
        return (self.name, self.description, self.parameters, self.model_extra) == (
            other.name, other.description, other.parameters, other.model_extra)

    __hash__ = None  # type: ignore[assignment]

    def json_schema(self) -> dict[str, Any]:
        """The parameters schema with type aliases mapped to JSON types (for validation)."""
        schema: dict[str, Any] = json_schema(self.parameters)
        return schema

    def to_openai(self) -> dict[str, Any]:
        """The OpenAI tool dict templates get: the dict as given (wrapped as OpenAI's shape when
        it was a plain function dict), else built from the fields that were set."""
        if self._source is not None:
            source = copy.deepcopy(self._source)
            return source if "function" in source else {"type": "function", "function": source}
        function: dict[str, Any] = {"name": self.name}
        if "description" in self.model_fields_set:
            function["description"] = self.description
        function["parameters"] = self.parameters
        function.update(copy.deepcopy(self.model_extra or {}))
        return {"type": "function", "function": function}


def coerce_tools(tools: Sequence[ToolSpec | dict[str, Any]] | None) -> list[ToolSpec] | None:
    """Turn ToolSpecs, OpenAI tool dicts or plain dicts into ToolSpecs; names must be unique."""
    if tools is None:
        return None
    if isinstance(tools, (str, bytes, Mapping)) or not isinstance(tools, Iterable):
        raise TypeError(f"tools must be a list of ToolSpec or tool dicts, not {type(tools).__name__}")
    specs = [t if isinstance(t, ToolSpec) else ToolSpec.model_validate(t) for t in tools]
    seen: set[str] = set()
    for spec in specs:
        if spec.name in seen:
            raise ValueError(f"duplicate tool name {spec.name!r}")
        seen.add(spec.name)
    return specs


class ChatTemplateOptions(BaseModel):
    """How a chat template is rendered."""

    model_config = ConfigDict(**STRICT, extra="forbid")

    add_generation_prompt: bool = True
    enable_thinking: bool | None = None
    template: str | None = Field(None, description="Override: a registered template name, a template string or a file path.")
    documents: list[dict[str, Any]] | None = None
    extra_context: dict[str, Any] = Field(default_factory=dict)

    @field_validator("documents", mode="before")
    @classmethod
    def _tuples_as_lists(cls, value: Any) -> Any:
        return _listed(value)

    @model_validator(mode="after")
    def _valid_unicode(self) -> ChatTemplateOptions:
        from ._validation import check_text

        check_text(self.template, "template")
        check_text(self.documents, "documents")
        check_text(self.extra_context, "extra_context")
        return self


class UserInput(BaseModel):
    """What the user asks: a prompt or a list of messages, optional tools and template options.

    A ``prompt`` becomes one user message rendered through the model's chat template (as
    mlx-swift-lm's ``UserInput(prompt:)`` does); ``use_chat_template=False`` encodes it raw.
    """

    model_config = ConfigDict(**STRICT, extra="forbid")

    prompt: str | None = None
    messages: list[ChatMessage] | None = None
    tools: list[ToolSpec] | None = None
    template_options: ChatTemplateOptions = Field(default_factory=ChatTemplateOptions)
    use_chat_template: bool = True

    @field_validator("messages", mode="before")
    @classmethod
    def _tuples_as_lists(cls, value: Any) -> Any:
        return _listed(value)

    @field_validator("tools", mode="before")
    @classmethod
    def _coerce_tools(cls, value: Any) -> Any:
        return coerce_tools(value) if value is not None else None

    @model_validator(mode="after")
    def _prompt_or_messages(self) -> UserInput:
        if (self.prompt is None) == (self.messages is None):
            raise ValueError("give exactly one of prompt= or messages=")
        if self.prompt is not None and not self.prompt.strip():
            raise ValueError("prompt is empty")
        from ._validation import check_text

        check_text(self.prompt, "prompt")
        if self.messages is not None and not self.messages:
            raise ValueError("messages is empty")
        return self


@dataclass(frozen=True)
class LMInput:
    """A prepared input: the prompt's token ids, plus what the pipeline needs to know about it."""

    tokens: tuple[int, ...]
    text: str | None = None
    tools: list[ToolSpec] | None = None
    starts_in_reasoning: bool = False
    metadata: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if not self.tokens:
            raise ValueError("LMInput.tokens is empty: a prompt needs at least one token")
        from ._validation import MAX_TOKEN_ID, check_token_ids

        tokens = self.tokens
        fast = isinstance(tokens, (tuple, list)) and all(type(t) is int for t in tokens)
        if not (fast and 0 <= min(tokens) and max(tokens) <= MAX_TOKEN_ID):
            if isinstance(tokens, (str, bytes)) or not isinstance(tokens, (tuple, list)):
                raise TypeError(f"LMInput.tokens must be a tuple of token ids, not "
                                f"{type(tokens).__name__}")
            check_token_ids(tokens, "LMInput.tokens")
