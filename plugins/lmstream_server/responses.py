"""POST /v1/responses: the OpenAI Responses API, as the Agents SDK and Codex use it.

The body is validated and converted on the work pool (``prepare_request``): strict models
(``responses_request``), tools (``responses_tools``: function, custom with a grammar,
namespace, hosted tools left out and named in ``x-lmstream-ignored-tools``), input items
(``responses_input``), the conversation of ``previous_response_id`` (``response_store``).
The generation's events become output items (``responses_run`` / ``responses_output``).
Streaming sends ``response.created``, ``response.in_progress``, per item
``output_item.added``, its deltas and ``.done`` events, ``output_item.done``, and finally
``response.completed`` / ``response.incomplete``, or ``error`` + ``response.failed``.
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass
from typing import Any

from pydantic import ValidationError

from lmstream import (
    ChatMessage,
    ChatTemplateOptions,
    Event,
    EventStream,
    GenerationParameters,
    LMInput,
    UserInput,
)

from .bodycheck import check_body
from .errors import APIError, bad_request, from_validation
from .flow import answer
from .generation import open_stream, prepare, raise_if_failed
from .parameters import server_defaults
from .responses_custom import grammar_error
from .responses_input import InputConverter
from .responses_output import ResponseBuilder, final_status
from .responses_request import ResponsesRequest, parse_request
from .responses_run import ResponseRun
from .responses_tools import IGNORED_TOOLS_HEADER, Choice, ToolCollector, ToolSet, resolve_choice
from .state import ServerState
from .wire import check_count

logger = logging.getLogger("lmstream.server")

@dataclass
class Prepared:
    """A validated request, converted for the core."""

    request: ResponsesRequest
    messages: list[ChatMessage]
    tools: ToolSet
    choice: Choice
    params: GenerationParameters
    template: ChatTemplateOptions
    history: list[dict[str, Any]]
    echo: dict[str, Any]


def _merge_leading_system(messages: list[ChatMessage]) -> list[ChatMessage]:
    """``instructions`` and leading developer/system items as one system message (many chat
    templates accept a system message only first)."""
    count = 0
    while count < len(messages) and messages[count].role == "system":
        count += 1
    if count < 2:
        return messages
    text = "\n\n".join(str(message.content or "") for message in messages[:count])
    return [ChatMessage(role="system", content=text), *messages[count:]]


def _echo(request: ResponsesRequest, body: dict[str, Any], store: bool) -> dict[str, Any]:
    """The request fields a response object repeats."""
    text = dict(body.get("text") or {})
    text.setdefault("format", {"type": "text"})
    text.setdefault("verbosity", "medium")
    reasoning = request.reasoning
    return {
        "instructions": request.instructions, "metadata": request.metadata or {},
        "parallel_tool_calls": request.parallel_tool_calls is not False,
        "temperature": request.temperature if request.temperature is not None else 1.0,
        "top_p": request.top_p if request.top_p is not None else 1.0,
        "tool_choice": request.tool_choice or "auto", "tools": request.tools or [],
        "max_output_tokens": request.max_output_tokens, "max_tool_calls": request.max_tool_calls,
        "previous_response_id": request.previous_response_id, "store": store, "text": text,
        "truncation": request.truncation or "disabled", "background": False,
        "reasoning": {"effort": reasoning.effort if reasoning else None,
                      "summary": reasoning.summary if reasoning else None},
        "prompt_cache_key": request.prompt_cache_key, "service_tier": request.service_tier or "default",
        "user": request.user, "safety_identifier": request.safety_identifier, "top_logprobs": 0,
    }


def prepare_request(state: ServerState, body: dict[str, Any]) -> Prepared:
    """Validate and convert a body (CPU work: runs on the work pool). Raises APIError."""
    check_body(body)
    request = parse_request(body)
    limits = state.limits
    if isinstance(request.input, list):
        check_count(request.input, limits.wire.max_input_items, "input")
    collector = ToolCollector(limits.wire.max_tools, limits.refuse_hosted_tools,
                              (limits.max_tool_grammar_bytes, limits.max_tool_grammar_rules))
    if request.tools is not None:
        collector.add_all(request.tools, "tools")
    converter = InputConverter(collector, limits.wire.max_content_blocks)
    history: list[dict[str, Any]] = []
    if request.previous_response_id is not None:
        previous = state.responses.get(request.previous_response_id)
        if previous is None:
            raise APIError(404, f"no stored response {request.previous_response_id!r} (unknown, expired, or "
                                "created with store: false)", param="previous_response_id",
                           code="previous_response_not_found")
        converter.add_items(previous, "previous_response_id")
        history += previous
    if isinstance(request.input, str):
        if not request.input:
            raise bad_request("input must not be empty", "input", "invalid_value")
        new_items: list[dict[str, Any]] = [{"type": "message", "role": "user", "content": request.input}]
        converter.add_items(new_items)
    else:
        new_items = list(request.input or [])
        converter.add_items(new_items)
    history += new_items
    tools = converter.tools
    for entry in tools.names.values():
        if entry.grammar is not None:
            error = grammar_error(entry.grammar)
            if error is not None:
                raise bad_request(f"invalid {entry.grammar.syntax} grammar: {error}",
                                  f"{entry.where}.format.definition", "invalid_grammar")
    messages = converter.messages
    if request.instructions:
        messages.insert(0, ChatMessage(role="system", content=request.instructions))
    if not messages:
        raise bad_request("input has no message the model can read", "input", "invalid_value")
    choice = resolve_choice(request.tool_choice, tools)
    effort = request.reasoning.effort if request.reasoning is not None else None
    template = ChatTemplateOptions(enable_thinking=None if effort is None else effort != "none")
    params = request.to_parameters(server_defaults(state, state.model(request.model)), choice)
    store = request.store is not False
    return Prepared(request, _merge_leading_system(messages), tools, choice, params, template, history,
                    _echo(request, body, store))


async def _open(state: ServerState, prepared: Prepared, served: Any, params: Any) -> tuple[LMInput, Any]:
    """Render, tokenize and start; with ``truncation: "auto"`` a prompt over the context drops
    its oldest turns (halving what can go, the system message and the last item kept)."""
    messages = prepared.messages
    while True:
        try:
            user_input = UserInput(messages=messages, tools=prepared.choice.specs, template_options=prepared.template)
        except ValidationError as exc:
            raise from_validation(exc, prefix="input.") from None
        lm_input = await prepare(served, user_input, input_param="input")
        key = prepared.request.prompt_cache_key
        if key is not None:  # a routing / prefix-cache hint for sources that place generations
            lm_input = dataclasses.replace(lm_input, metadata={**lm_input.metadata, "prompt_cache_key": key})
        try:
            return lm_input, await open_stream(state, served, lm_input, params, input_param="input")
        except APIError as error:
            head = 1 if messages and messages[0].role == "system" else 0
            droppable = len(messages) - head - 1
            if error.code != "context_length_exceeded" or prepared.request.truncation != "auto" or droppable < 1:
                raise
            drop = max(1, droppable // 2)
            rest = messages[head + drop:]
            while len(rest) > 1 and rest[0].role == "tool":  # results of calls that were dropped
                rest = rest[1:]
            messages = messages[:head] + rest


async def responses(state: ServerState, body: dict[str, Any]) -> Any:
    """Validate (on the work pool), then answer through the shared skeleton (a response, or SSE)."""
    prepared = await state.work.run(prepare_request, state, body)
    if prepared.tools.ignored:
        logger.info("/v1/responses: hosted tools left out (this server cannot run them): %s",
                    ", ".join(prepared.tools.ignored))
    return await answer(state, ResponseAnswer(state, prepared))


class ResponseAnswer:
    """A Responses request's part of the skeleton: one generation (a custom tool's input may be
    generated again under its grammar), Responses events or one response object."""

    slots = 1

    def __init__(self, state: ServerState, prepared: Prepared) -> None:
        self.state = state
        self.prepared = prepared
        self.served = state.model(prepared.request.model)
        self.builder = ResponseBuilder(self.served.name, prepared.echo, prepared.request.wants_encrypted_reasoning)
        self.headers: dict[str, str] = {}
        if prepared.tools.ignored:
            self.headers[IGNORED_TOOLS_HEADER] = ",".join(prepared.tools.ignored)
        self._run: ResponseRun | None = None

    @property
    def streaming(self) -> bool:
        """``stream: true``."""
        return self.prepared.request.stream

    @property
    def run(self) -> ResponseRun:
        """The generation's driver (made when it opened)."""
        assert self._run is not None, "open() comes first"
        return self._run

    async def open(self) -> list[EventStream[Event]]:
        """The generation (with ``truncation: "auto"``, of a prompt that fits)."""
        request = self.prepared.request
        max_calls = 1 if request.parallel_tool_calls is False else request.max_tool_calls
        lm_input, stream = await _open(self.state, self.prepared, self.served, self.prepared.params)
        self._run = ResponseRun(self.state, self.served, lm_input, self.prepared.params, self.builder,
                                self.prepared.tools, max_calls, self.prepared.choice.forced_custom)
        return [stream]

    def events(self, streams: Sequence[EventStream[Event]]) -> AsyncIterator[bytes]:
        """``response.created`` ... ``response.completed`` (or ``error`` + ``response.failed``)."""
        return _stream(self.run, streams[0], self.prepared)

    async def collect(self, streams: Sequence[EventStream[Event]]) -> dict[str, Any]:
        """The response object (stored for ``previous_response_id`` unless ``store: false``)."""
        async for _ in self.run.events(streams[0]):
            pass
        info = raise_if_failed(self.run.info)
        result = self.builder.response(final_status(info), info)
        await _store(self.state, self.prepared, self.builder, result)
        return result

    def closing_events(self, message: str) -> bytes:
        """An ``error`` event and ``response.failed``."""
        return self.builder.closing_events(message)


async def _store(state: ServerState, prepared: Prepared, builder: ResponseBuilder, response: dict[str, Any]) -> None:
    """Keep the conversation for ``previous_response_id`` and the response object for
    ``GET /v1/responses/{id}`` (sized on the work pool: they may be MBs)."""
    if not prepared.echo["store"]:
        return
    items = prepared.history + [dict(item) for item in builder.output]
    try:
        await state.work.run(state.responses.put, builder.id, items, response)
    except APIError:  # the pool is full: this response is not stored (a later continuation 404s)
        logger.warning("/v1/responses: the server is busy; response %s was not stored", builder.id)


async def _stream(run: ResponseRun, stream: EventStream[Event], prepared: Prepared) -> AsyncIterator[bytes]:
    builder = run.builder
    for piece in builder.start_events():
        yield piece
    try:
        async for pieces in run.events(stream):
            for piece in pieces:
                yield piece
    except APIError as error:
        for piece in builder.failure_events(error.message, error.code or "invalid_request"):
            yield piece
        return
    except Exception as exc:  # a failure after the stream started: error + response.failed
        logger.exception("/v1/responses stream failed")
        for piece in builder.failure_events(f"the generation failed: {exc}"):
            yield piece
        return
    info = run.info
    if info.stop_reason.value == "error":
        for piece in builder.failure_events(f"the generation failed: {info.error}"):
            yield piece
        return
    final = builder.response(final_status(info), info)
    await _store(run.state, prepared, builder, final)
    yield builder.final_event(final)


def stored_response(state: ServerState, response_id: str) -> dict[str, Any]:
    """``GET /v1/responses/{id}``: a stored response object; 404 when none is stored."""
    found = state.responses.response(response_id)
    if found is None:
        raise _not_stored(response_id)
    return found


def delete_stored(state: ServerState, response_id: str) -> dict[str, Any]:
    """``DELETE /v1/responses/{id}``: forget a stored response; 404 when none is stored."""
    if not state.responses.delete(response_id):
        raise _not_stored(response_id)
    return {"id": response_id, "object": "response", "deleted": True}


def _not_stored(response_id: str) -> APIError:
    return APIError(404, f"no stored response {response_id!r} (unknown, expired, deleted, or created with "
                    "store: false)", code="not_found")
