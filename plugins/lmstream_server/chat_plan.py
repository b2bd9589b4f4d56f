"""A /v1/chat/completions body turned into what the generations need, in one worker call.

``plan_chat`` is the whole request-sized CPU part of a chat request: the body walk (lone
surrogates, nesting), strict validation, count limits, message and tool conversion, and
``ChatRequest.to_parameters`` (whose ``response_format`` schema check runs here, once per
request, not once per choice). The route runs it with ``state.work.run`` so that a huge body never
freezes the event loop.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from pydantic import ValidationError

from lmstream import ChatTemplateOptions, GenerationParameters, UserInput

from .bodycheck import check_body
from .chat_request import ChatRequest, chat_messages, parse
from .errors import from_validation
from .parameters import server_defaults
from .reasoning import effort_settings
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
    cache_key: str | None = None
    """The request's ``prompt_cache_key`` (a routing hint, see ``open_streams``)."""


def plan_chat(state: ServerState, body: dict[str, Any]) -> ChatPlan:
    """Validate and convert a chat body (run on the work pool); every mistake a 400 naming the field."""
    check_body(body)
    request: ChatRequest = parse(ChatRequest, body)
    served = state.model(request.model)
    limits = state.limits.wire
    check_count(request.messages, limits.max_messages, "messages")
    params = request.to_parameters(server_defaults(state, served))
    tools = request.offered_tools(limits)
    enable_thinking, _ = effort_settings(request.reasoning_effort, params.max_tokens)
    messages = chat_messages(request.messages, limits)
    try:
        user_input = UserInput(messages=messages, tools=tools,
                               template_options=ChatTemplateOptions(enable_thinking=enable_thinking))
    except ValidationError as exc:
        raise from_validation(exc) from None
    return ChatPlan(served=served, user_input=user_input, params=params, n=request.choices,
                    stream=request.streaming,
                    include_usage=bool(request.stream_options and request.stream_options.include_usage),
                    single_call=request.parallel_tool_calls is False, logprobs=bool(request.logprobs),
                    cache_key=request.prompt_cache_key)


__all__ = ["ChatPlan", "plan_chat"]
