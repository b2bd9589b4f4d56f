"""The variables a chat template sees, built the way transformers' ``apply_chat_template`` does.

Every value is rebuilt from plain JSON types first: a rich object (a model, an array, a
file handle) handed to an untrusted template could expose methods the sandbox does not know
are dangerous, so anything that is not plain data becomes an inert ``"<TypeName>"`` string.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Mapping
from typing import Any

from lmstream.plugin import TemplateRequest

# transformers reads a message's reasoning under these names and fills in the first two.
_REASONING_FIELDS = ("reasoning_content", "thinking", "reasoning")

RESERVED_VARIABLES = frozenset({"messages", "tools", "documents", "add_generation_prompt"})
"""Names ``extra_context`` may not set: they come from the request itself."""


def plain_data(value: Any) -> Any:
    """``value`` rebuilt from dict/list/tuple/str/int/float/bool/None; anything else inert."""
    if value is None or type(value) in (str, int, float, bool):
        return value
    if isinstance(value, str):  # str subclasses (enums) carry extra methods: strip them
        return str.__str__(value)
    if isinstance(value, int):
        return int.__int__(value)
    if isinstance(value, float):
        return float.__float__(value)
    if isinstance(value, Mapping):
        return {plain_data(key): plain_data(item) for key, item in value.items()}
    if isinstance(value, list):
        return [plain_data(item) for item in value]
    if isinstance(value, tuple):
        return tuple(plain_data(item) for item in value)
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: plain_data(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if callable(getattr(value, "model_dump", None)):  # pydantic models
        return plain_data(value.model_dump())
    return f"<{type(value).__name__}>"


def _decoded_arguments(tool_call: Any) -> Any:
    """A tool call whose ``function.arguments`` is an OpenAI-style JSON string, as a dict.

    Hugging Face templates expect a dict (they ``tojson`` it); OpenAI clients send a string.
    Like vLLM, we decode a string that holds a JSON object and leave anything else as it is.
    """
    if not isinstance(tool_call, dict):
        return tool_call
    function = tool_call.get("function")
    if isinstance(function, dict) and isinstance(function.get("arguments"), str):
        try:
            decoded = json.loads(function["arguments"])
        except ValueError:
            return tool_call
        if isinstance(decoded, dict):
            return {**tool_call, "function": {**function, "arguments": decoded}}
    return tool_call


def template_messages(messages: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Messages as the template sees them: plain data, top-level None keys dropped (except
    ``content``, which a client's ``content: null`` keeps as None, as transformers renders it),
    JSON-string tool arguments decoded, reasoning aliased under transformers' names."""
    result = []
    for index, raw in enumerate(messages):
        if not isinstance(raw, Mapping):
            raise TypeError(f"messages[{index}] must be a dict, got {type(raw).__name__}")
        message = {key: value for key, value in plain_data(raw).items()
                   if value is not None or key == "content"}
        if isinstance(message.get("tool_calls"), list):
            message["tool_calls"] = [_decoded_arguments(call) for call in message["tool_calls"]]
        reasoning = next((message[k] for k in _REASONING_FIELDS if message.get(k) is not None), None)
        if reasoning is not None:
            message = {"thinking": reasoning, **message, "reasoning_content": reasoning}
        result.append(message)
    return result


def template_variables(request: TemplateRequest) -> dict[str, Any]:
    """All variables for one render: special tokens, extra_context, then the request's own."""
    options = request.options
    extra = dict(options.extra_context)
    clash = sorted(RESERVED_VARIABLES & extra.keys())
    if clash:
        raise ValueError(
            f"extra_context may not set {', '.join(clash)}: pass them as messages, tools, "
            "options.documents or options.add_generation_prompt"
        )
    if options.enable_thinking is not None and "enable_thinking" in extra:
        raise ValueError("enable_thinking is given twice (options.enable_thinking and extra_context)")
    variables: dict[str, Any] = {**request.special_tokens, **extra}
    if options.enable_thinking is not None:
        variables["enable_thinking"] = options.enable_thinking
    variables = plain_data(variables)
    variables["messages"] = template_messages(request.messages)
    variables["tools"] = plain_data(request.tools)
    variables["documents"] = plain_data(options.documents)
    variables["add_generation_prompt"] = options.add_generation_prompt
    return variables
