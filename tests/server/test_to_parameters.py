"""Request models convert themselves (``to_parameters``); core errors name the request's field.

Each route's model builds the core's GenerationParameters from its own fields; the checks
the core owns are not repeated, and its errors come back as 400s naming the field as the
client wrote it (``max_completion_tokens``, ``stop_sequences``, ``max_output_tokens``). The
stop-sequence count limit applies on every route that has stops.
"""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

pytest.importorskip("starlette")

from lmstream import GenerationParameters
from lmstream_server.anthropic_wire import MessagesRequest
from lmstream_server.chat_request import ChatRequest
from lmstream_server.completions import CompletionRequest
from lmstream_server.errors import UNION_TAGS, APIError, field_path
from lmstream_server.parameters import ServerDefaults, core_param, request_field
from lmstream_server.responses_request import ResponsesRequest
from lmstream_server.responses_tools import Choice
from lmstream_server.wire import WireLimits

from .conftest import http_client

DEFAULTS = ServerDefaults(max_tokens=77, wire=WireLimits(max_stop_sequences=2), max_n=4, vocab=100)
USER = [{"role": "user", "content": "hi"}]


def _error(call: Any) -> APIError:
    with pytest.raises(APIError) as caught:
        call()
    assert caught.value.status == 400
    return caught.value


def test_chat_request_converts_itself() -> None:
    request = ChatRequest.model_validate({
        "model": "m", "messages": USER, "max_completion_tokens": 9, "temperature": 0.5, "stop": "x",
        "logprobs": True, "top_logprobs": 3, "logit_bias": {"5": 1.0}, "tool_choice": "none", "stream": True,
        "response_format": {"type": "json_object"}})
    params = request.to_parameters(DEFAULTS)
    assert isinstance(params, GenerationParameters)
    assert (params.max_tokens, params.temperature, params.stop, params.top_logprobs) == (9, 0.5, ("x",), 3)
    assert params.logit_bias == {5: 1.0} and params.tool_parser == "none" and params.stream_tool_calls
    assert params.response_format is not None
    assert ChatRequest.model_validate({"model": "m", "messages": USER}).to_parameters(DEFAULTS).max_tokens == 77


def test_chat_core_errors_name_the_request_field() -> None:
    request = ChatRequest.model_validate({"model": "m", "messages": USER, "top_logprobs": 2})
    assert _error(lambda: request.to_parameters(DEFAULTS)).param == "top_logprobs"
    request = ChatRequest.model_validate({"model": "m", "messages": USER, "stop": ["a", "b", "c"]})
    assert _error(lambda: request.to_parameters(DEFAULTS)).param == "stop"
    request = ChatRequest.model_validate({"model": "m", "messages": USER, "logit_bias": {"100": 1.0}})
    assert _error(lambda: request.to_parameters(DEFAULTS)).param == "logit_bias"


def test_completion_request_converts_itself() -> None:
    params = CompletionRequest.model_validate({"model": "m", "prompt": "p", "logprobs": 2}).to_parameters(DEFAULTS)
    assert (params.max_tokens, params.logprobs, params.top_logprobs) == (16, True, 2)
    assert params.tool_parser == "none" and params.reasoning_markers is None
    for bad in (21, -1):  # the core's range, named as this request's field
        request = CompletionRequest.model_validate({"model": "m", "prompt": "p", "logprobs": bad})
        assert _error(lambda request=request: request.to_parameters(DEFAULTS)).param == "logprobs"


def test_responses_request_converts_itself() -> None:
    request = ResponsesRequest.model_validate({
        "model": "m", "input": "x", "max_output_tokens": 5, "temperature": 0.3, "stream": True,
        "reasoning": {"effort": "low"},
        "text": {"format": {"type": "json_schema", "name": "n", "schema": {"type": "object"}}}})
    params = request.to_parameters(DEFAULTS, Choice(specs=None))
    assert (params.max_tokens, params.temperature, params.stream_tool_calls) == (5, 0.3, True)
    assert params.reasoning_budget == 1024 and params.response_format is not None
    forced = request.model_copy(update={"text": None})
    params = forced.to_parameters(DEFAULTS, Choice(specs=None, forced_custom="t", grammar=None))
    assert params.tool_parser == "none" and not params.stream_tool_calls
    with_format = _error(lambda: request.to_parameters(DEFAULTS, Choice(specs=None, forced_custom="t")))
    assert with_format.param == "tool_choice"


def test_responses_schema_errors_name_text_format() -> None:
    request = ResponsesRequest.model_validate({
        "model": "m", "input": "x",
        "text": {"format": {"type": "json_schema", "name": "n", "schema": {"type": "nonsense"}}}})
    error = _error(lambda: request.to_parameters(DEFAULTS, Choice(specs=None)))
    assert error.param is not None and error.param.startswith("text.format"), error.param


def test_messages_request_converts_itself_and_limits_stops() -> None:
    body = {"model": "m", "max_tokens": 30, "messages": USER, "stop_sequences": ["a"], "top_k": 4, "stream": True}
    params = MessagesRequest.model_validate(body).to_parameters(DEFAULTS, {"tool_parser": "none"}, 10)
    assert (params.max_tokens, params.stop, params.top_k, params.reasoning_budget) == (30, ("a",), 4, 10)
    assert params.tool_parser == "none" and params.stream_tool_calls
    many = MessagesRequest.model_validate({**body, "stop_sequences": ["a", "b", "c"]})
    assert _error(lambda: many.to_parameters(DEFAULTS, {}, None)).param == "stop_sequences"
    empty = MessagesRequest.model_validate({**body, "stop_sequences": [""]})
    error = _error(lambda: empty.to_parameters(DEFAULTS, {}, None))
    assert error.param == "stop_sequences" and "stop_sequences" in error.message


async def test_the_stop_count_limit_applies_to_messages(served: Any) -> None:
    app = served()
    limit = app.state.lmstream.limits.wire.max_stop_sequences
    body = {"model": "scripted", "max_tokens": 5, "messages": USER, "stop_sequences": ["s"] * (limit + 1)}
    async with http_client(app) as http:
        response = await http.post("/v1/messages", json=body)
    assert response.status_code == 400 and "stop_sequences" in response.json()["error"]["message"]


NAMES = st.from_regex(r"[a-z_]{1,12}", fullmatch=True)


@given(core=NAMES, target=st.from_regex(r"[a-z_.]{1,20}", fullmatch=True),
       suffix=st.sampled_from(["", ".a", "[0]", ".a.b[2]"]), other=NAMES)
def test_request_field_translates_the_head_only(core: str, target: str, suffix: str, other: str) -> None:
    fields = {core: target}
    assert request_field(core + suffix, fields) == target + suffix
    if other != core and not other.startswith(core):
        assert request_field(other + suffix, fields) == other + suffix
    assert request_field(core + "x" + suffix, fields) == core + "x" + suffix


def test_longest_prefix_wins_and_the_message_names_the_field() -> None:
    fields = {"response_format": "output_config.format",
              "response_format.json_schema.schema": "output_config.format.schema"}
    assert request_field("response_format.json_schema.schema.x", fields) == "output_config.format.schema.x"
    assert request_field("response_format.json_schema", fields) == "output_config.format.json_schema"
    error = core_param(APIError(400, "stop strings must not be empty"), {"stop": "stop_sequences"})
    assert error.param == "stop_sequences" and "stop_sequences" in error.message


FIELD = st.from_regex(r"[a-z_][a-z0-9_]{0,8}", fullmatch=True).filter(lambda name: name not in UNION_TAGS)
TAG = st.sampled_from(["str", "list[str]", "function-after[_checks(), ResponsesRequest]", "TextBlock", "none",
                       "literal['a']"])


@given(parts=st.lists(st.one_of(FIELD, st.integers(0, 99)), max_size=6), tags=st.lists(TAG, max_size=6),
       where=st.sampled_from(["", "messages[2]", "tools[0]"]))
def test_field_path_leaves_union_tags_out(parts: list[Any], tags: list[str], where: str) -> None:
    """Any location, with union-member tags anywhere, names the same field as without them."""
    mixed: list[Any] = []
    for index, part in enumerate(parts):
        mixed.append(part)
        if index < len(tags):
            mixed.append(tags[index])
    expected = where
    for part in parts:
        expected += f"[{part}]" if isinstance(part, int) else (f".{part}" if expected else part)
    assert field_path(tuple(mixed), where) == field_path(tuple(parts), where) == expected
