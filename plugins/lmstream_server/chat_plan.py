"""A /v1/chat/completions body turned into what the generations need, in one worker call.

``plan_chat`` is the whole request-sized CPU part of a chat request: the body walk (lone
surrogates, nesting), strict validation, count limits, message and tool conversion, and
``GenerationParameters`` (whose ``response_format`` schema check runs here, once per request,
not once per choice). The route runs it with ``state.work.run`` so that a huge body never
freezes the event loop.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from pydantic import ValidationError

from lmstream import ChatTemplateOptions, GenerationParameters, UserInput

from .bodycheck import check_body
from .chat_request import (
    ChatRequest,
    chat_messages,
    parse,
    response_format_values,
    tool_choice_values,
    tool_specs,
)
from .errors import APIError, from_validation
from .generation import build_parameters
from .reasoning import effort_settings
from .sampling import sampling_values, vocab_limit
from .state import ServedModel, ServerState
from .wire import check_count


@dataclass(frozen=True)
class ChatPlan:
    """A validated chat request: the model, the input, the parameters and the answer's shape."""

    served: ServedModel
    user_input: UserInput
    params: GenerationParameters
    n: int
    stream: bool
    include_usage: bool
    single_call: bool
    logprobs: bool


def forces_a_call(tool_choice: Any) -> bool:
    """``required`` or a named function: this turn's output is a tool call, so ``response_format``
    (which shapes text content) does not apply to it (as OpenAI does; the Agents SDK sends both)."""
    return tool_choice == "required" or isinstance(tool_choice, dict)


def plan_chat(state: ServerState, body: dict[str, Any]) -> ChatPlan:
    """Validate and convert a chat body (run on the work pool); every mistake a 400 naming the field."""
    check_body(body)
    request: ChatRequest = parse(ChatRequest, body)
    served = state.model(request.model)
    limits = state.limits.wire
    check_count(request.messages, limits.max_messages, "messages")
    values = sampling_values(request, state.limits.max_n, state.limits.max_tokens_default, limits,
                             vocab_limit(served.context.tokenizer))
    names: dict[str, str] = {}
    if request.max_completion_tokens is not None:
        values["max_tokens"] = request.max_completion_tokens
        names["max_tokens"] = "max_completion_tokens"
    if request.logprobs is not None:
        values["logprobs"] = request.logprobs
    if request.top_logprobs is not None:
        values["top_logprobs"] = request.top_logprobs
    tools, extra = tool_choice_values(request.tool_choice, tool_specs(request.tools, limits=limits))
    values.update(extra)
    if not forces_a_call(request.tool_choice):
        values.update(response_format_values(request.response_format))
    enable_thinking, reasoning_values = effort_settings(request.reasoning_effort, values.get("max_tokens"))
    values.update(reasoning_values)
    names.update({name: "reasoning_effort" for name in reasoning_values})
    if request.streaming:
        values["stream_tool_calls"] = True
    elif request.stream_options is not None:
        raise APIError(400, "stream_options needs stream: true", param="stream_options", code="invalid_value")
    params = build_parameters(values, names)
    messages = chat_messages(request.messages, limits)
    try:
        user_input = UserInput(messages=messages, tools=tools,
                               template_options=ChatTemplateOptions(enable_thinking=enable_thinking))
    except ValidationError as exc:
        raise from_validation(exc) from None
    return ChatPlan(served=served, user_input=user_input, params=params, n=request.choices,
                    stream=request.streaming,
                    include_usage=bool(request.stream_options and request.stream_options.include_usage),
                    single_call=request.parallel_tool_calls is False, logprobs=bool(request.logprobs))
