"""The OpenAI routes' request rules: strict types, client mistakes as 400s naming the field,
count limits, and the request-sized work off the event loop (issue 19).

Every case here was a 200 (lax coercion) or a 500 (a Python exception text) before.
"""

from __future__ import annotations

import asyncio
import dataclasses
import json
import math
import threading
from collections.abc import Iterator
from typing import Any

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

import lmstream

from .conftest import http_client

pytest.importorskip("starlette")

from lmstream_server import create_app
from lmstream_server.wire import WireLimits

USER = [{"role": "user", "content": "hi"}]
CHAT = {"model": "scripted", "messages": USER}
COMPLETION = {"model": "scripted", "prompt": "hi"}


@pytest.fixture(scope="module")
def app() -> Iterator[Any]:
    """One scripted app for the module (every request here is refused before generating, or short)."""
    context = lmstream.load(backend="scripted", reply="ok")
    yield create_app(context)
    context.close()


async def _post(app: Any, path: str, body: Any) -> Any:
    """POST ``body`` encoded by ``json.dumps`` (ASCII escapes: lone surrogates travel as JSON allows)."""
    async with http_client(app) as http:
        return await http.post(path, content=json.dumps(body).encode(),
                               headers={"content-type": "application/json"})


def _run(coro: Any) -> Any:
    return asyncio.run(coro)


def _assert_400(response: Any, param: str) -> dict[str, Any]:
    assert response.status_code == 400, response.text
    error: dict[str, Any] = response.json()["error"]
    assert error["param"] == param, error
    assert error["type"] == "invalid_request_error" and error["message"]
    assert "Traceback" not in error["message"]
    return error


# -- strict types --------------------------------------------------------------------------

INT_FIELDS = ["max_tokens", "n", "seed", "top_k"]
FLOAT_FIELDS = ["temperature", "top_p", "min_p", "presence_penalty", "frequency_penalty", "repetition_penalty"]
BOOL_FIELDS = ["stream"]
CHAT_ONLY = {"int": ["max_completion_tokens", "top_logprobs"], "bool": ["logprobs", "parallel_tool_calls", "store"]}
COMPLETION_ONLY = {"int": ["logprobs", "best_of"], "bool": ["echo"]}

WRONG = {
    "int": [True, False, "1", 5.0, 1.5, [1], {"a": 1}],
    "float": [True, False, "0.5", "1", [0.5], {"x": 1}],
    "bool": ["true", "false", 0, 1, 1.0, [True], {}],
}


def _cases(extra: dict[str, list[str]]) -> list[tuple[str, str]]:
    cases = [(f, "int") for f in INT_FIELDS] + [(f, "float") for f in FLOAT_FIELDS]
    cases += [(f, "bool") for f in BOOL_FIELDS]
    for kind, fields in extra.items():
        cases += [(f, kind) for f in fields]
    return cases


@pytest.mark.parametrize(("path", "base", "field", "kind"),
                         [("/v1/chat/completions", CHAT, f, k) for f, k in _cases(CHAT_ONLY)]
                         + [("/v1/completions", COMPLETION, f, k) for f, k in _cases(COMPLETION_ONLY)])
def test_wrong_types_are_400_naming_the_field(app: Any, path: str, base: dict[str, Any], field: str,
                                               kind: str) -> None:
    for value in WRONG[kind]:
        _assert_400(_run(_post(app, path, {**base, field: value})), field)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.sampled_from([("/v1/chat/completions", CHAT, f, k) for f, k in _cases(CHAT_ONLY)]
                       + [("/v1/completions", COMPLETION, f, k) for f, k in _cases(COMPLETION_ONLY)]),
       st.data())
def test_wrong_types_property(app: Any, case: tuple[str, dict[str, Any], str, str], data: Any) -> None:
    path, base, field, kind = case
    wrong = {
        "int": st.one_of(st.booleans(), st.text(max_size=5), st.floats(allow_nan=False, allow_infinity=False),
                         st.lists(st.integers(), max_size=2)),
        "float": st.one_of(st.booleans(), st.text(max_size=5), st.lists(st.floats(0, 1), max_size=2)),
        "bool": st.one_of(st.integers(), st.text(max_size=5), st.floats(allow_nan=False), st.none().map(lambda _: {})),
    }[kind]
    _assert_400(_run(_post(app, path, {**base, field: data.draw(wrong)})), field)


def test_the_exact_issue_examples(app: Any) -> None:
    for field, value in [("temperature", True), ("max_tokens", "1"), ("max_tokens", 5.0), ("n", True),
                         ("stream", "true"), ("stream", 0), ("logprobs", 0)]:
        _assert_400(_run(_post(app, "/v1/chat/completions", {**CHAT, field: value})), field)


def test_nested_wrong_types_name_the_path(app: Any) -> None:
    _assert_400(_run(_post(app, "/v1/chat/completions", {**CHAT, "stream": True,
                                                         "stream_options": {"include_usage": "yes"}})),
                "stream_options.include_usage")
    _assert_400(_run(_post(app, "/v1/chat/completions", {**CHAT, "stop": 5})), "stop")
    _assert_400(_run(_post(app, "/v1/chat/completions", {**CHAT, "logit_bias": {"5": True}})), "logit_bias.5")
    _assert_400(_run(_post(app, "/v1/chat/completions", {**CHAT, "temperature": float("inf")})), "temperature")


# -- the core's checks surface naming the HTTP field -------------------------------------------

@pytest.mark.parametrize(("path", "body", "param"), [
    ("/v1/chat/completions", {**CHAT, "top_logprobs": 3}, "top_logprobs"),
    ("/v1/chat/completions", {**CHAT, "logprobs": True, "top_logprobs": 25}, "top_logprobs"),
    ("/v1/chat/completions", {**CHAT, "stop": ["x", ""]}, "stop"),
    ("/v1/chat/completions", {**CHAT, "top_p": 0}, "top_p"),
    ("/v1/chat/completions", {**CHAT, "seed": -1}, "seed"),
    ("/v1/completions", {**COMPLETION, "logprobs": 25}, "logprobs"),
    ("/v1/completions", {**COMPLETION, "stop": [""]}, "stop"),
])
def test_core_validation_names_the_http_field(app: Any, path: str, body: dict[str, Any], param: str) -> None:
    _assert_400(_run(_post(app, path, body)), param)


# -- lone surrogates -----------------------------------------------------------------------------

LONE = "a\ud800b"


@pytest.mark.parametrize(("path", "body", "param"), [
    ("/v1/chat/completions", {**CHAT, "messages": [{"role": "user", "content": LONE}]}, "messages[0].content"),
    ("/v1/chat/completions", {**CHAT, "messages": [{"role": "user", "content": [{"type": "text", "text": LONE}]}]},
     "messages[0].content[0].text"),
    ("/v1/chat/completions", {**CHAT, "stop": ["x", LONE]}, "stop[1]"),
    ("/v1/chat/completions", {**CHAT, "user": LONE}, "user"),
    ("/v1/chat/completions", {**CHAT, "metadata": {"k": LONE}}, "metadata.k"),
    ("/v1/chat/completions", {**CHAT, "tools": [{"type": "function", "function": {"name": "f", "description": LONE}}]},
     "tools[0].function.description"),
    ("/v1/chat/completions", {**CHAT, "model": LONE}, "model"),
    ("/v1/completions", {**COMPLETION, "prompt": LONE}, "prompt"),
    ("/v1/completions", {**COMPLETION, "prompt": ["ok", LONE]}, "prompt[1]"),
    ("/v1/completions", {**COMPLETION, "stop": LONE}, "stop"),
    ("/tokenize", {"model": "scripted", "prompt": LONE}, "prompt"),
    ("/tokenize", {"model": "scripted", "messages": [{"role": "user", "content": LONE}]}, "messages[0].content"),
    ("/detokenize", {"model": LONE, "tokens": [1]}, "model"),
])
def test_lone_surrogates_are_400_naming_the_field(app: Any, path: str, body: dict[str, Any], param: str) -> None:
    error = _assert_400(_run(_post(app, path, body)), param)
    assert "surrogate" in error["message"]


@pytest.mark.parametrize(("path", "body", "param"), [
    ("/v1/chat/completions", {**CHAT, "messages": [
        {"role": "user", "content": "hi"},
        {"role": "assistant", "content": None, "tool_calls": [
            {"id": "c", "type": "function", "function": {"name": "f", "arguments": '{"a": "\\ud800"}'}}]},
        {"role": "tool", "tool_call_id": "c", "content": "ok"}]}, "messages"),
    ("/v1/responses", {"model": "scripted", "input": [
        {"type": "function_call", "call_id": "c", "name": "f", "arguments": '{"a": "\\ud800"}'},
        {"type": "function_call_output", "call_id": "c", "output": "ok"}]}, "input"),
])
def test_a_surrogate_escaped_inside_a_json_string_names_the_input(app: Any, path: str, body: dict[str, Any],
                                                                  param: str) -> None:
    """The body walk refuses raw lone surrogates; one escaped inside a string the server
    parses itself (a tool call's arguments) surfaces when the prompt is rendered."""
    error = _assert_400(_run(_post(app, path, body)), param)
    assert "surrogate" in error["message"]


def test_lone_surrogate_in_a_key_names_the_object(app: Any) -> None:
    error = _assert_400(_run(_post(app, "/v1/chat/completions", {**CHAT, "metadata": {LONE: "v"}})), "metadata")
    assert "surrogate" in error["message"]


@pytest.mark.parametrize(("path", "body", "param"), [
    ("/v1/chat/completions", {**CHAT, "response_format": {"type": "json_schema",
                                                          "json_schema": {"name": math.nan, "schema": {}}}},
     "response_format.json_schema.name"),
    ("/v1/chat/completions", {**CHAT, "tools": [{"type": "function", "function": {
        "name": "f", "parameters": {"type": "object", "properties": {"a": {"type": "number", "maximum": math.inf}}}}}]},
     "tools[0].function.parameters.properties.a.maximum"),
    ("/v1/messages", {"model": "scripted", "max_tokens": 4, "messages": [
        {"role": "user", "content": "hi"},
        {"role": "assistant", "content": [{"type": "tool_use", "id": "t", "name": "f", "input": {"x": -math.inf}}]},
        {"role": "user", "content": [{"type": "tool_result", "tool_use_id": "t", "content": "ok"}]}]},
     "messages[1].content[0].input.x"),
])
def test_nan_and_infinity_are_400_anywhere(app: Any, path: str, body: dict[str, Any], param: str) -> None:
    """Python's JSON reader takes ``NaN`` and ``Infinity``; JSON has neither: refused wherever
    they are, free-form objects (a schema, a tool call's input) included."""
    response = _run(_post(app, path, body))
    if path == "/v1/messages":  # the Anthropic error shape has no param: the message names the field
        assert response.status_code == 400 and param in response.json()["error"]["message"], response.text
        assert "finite" in response.json()["error"]["message"]
        return
    error = _assert_400(response, param)
    assert "finite" in error["message"]


# -- logit_bias ----------------------------------------------------------------------------------

@pytest.mark.parametrize("key", ["²", "١", "-1", "1.5", "", " 1", "abc", "99999999999", "259"])
def test_bad_logit_bias_keys_are_400(app: Any, key: str) -> None:
    _assert_400(_run(_post(app, "/v1/chat/completions", {**CHAT, "logit_bias": {key: 1}})), "logit_bias")


def test_logit_bias_in_the_vocabulary_is_served(app: Any) -> None:
    response = _run(_post(app, "/v1/chat/completions", {**CHAT, "logit_bias": {"65": 5, "0": -100}}))
    assert response.status_code == 200, response.text
    _assert_400(_run(_post(app, "/v1/chat/completions", {**CHAT, "logit_bias": {"65": 101}})), "logit_bias")


# -- nesting -------------------------------------------------------------------------------------

def _nested_schema(depth: int) -> dict[str, Any]:
    schema: dict[str, Any] = {"type": "string"}
    for _ in range(depth):
        schema = {"type": "object", "properties": {"a": schema}}
    return schema


@pytest.mark.parametrize("depth", [40, 200])
def test_deep_schemas_are_400_naming_response_format(app: Any, depth: int) -> None:
    body = {**CHAT, "response_format": {"type": "json_schema",
                                        "json_schema": {"name": "deep", "schema": _nested_schema(depth)}}}
    response = _run(_post(app, "/v1/chat/completions", body))
    if depth == 40 and response.status_code == 200:
        return  # within every bound: served
    error = _assert_400(response, "response_format")
    assert "deep" in error["message"] or "nest" in error["message"]


def test_a_schema_the_engine_cannot_compile_names_response_format(app: Any) -> None:
    pytest.importorskip("llguidance")
    schema = {"type": "object", "properties": {"a": {"type": "string", "pattern": "(?<=x)a"}}}
    body = {**CHAT, "response_format": {"type": "json_schema", "json_schema": {"name": "x", "schema": schema}}}
    response = _run(_post(app, "/v1/chat/completions", body))
    if response.status_code != 200:  # lookbehind: llguidance's regex dialect has none
        _assert_400(response, "response_format")


def test_deep_messages_are_400(app: Any) -> None:
    value: Any = "x"
    for _ in range(300):
        value = [value]
    body = {**CHAT, "messages": [{"role": "user", "content": "hi", "extra": value}]}
    error = _assert_400(_run(_post(app, "/v1/chat/completions", body)), "messages")
    assert "nests deeper" in error["message"]


# -- count limits --------------------------------------------------------------------------------

@pytest.fixture
def small_limits_app() -> Iterator[Any]:
    context = lmstream.load(backend="scripted", reply="ok", tool_parser_type="hermes")
    application = create_app(context)
    state = application.state.lmstream
    state.limits = dataclasses.replace(state.limits, wire=WireLimits(max_messages=3, max_stop_sequences=2,
                                                                     max_tools=2, max_logit_bias=2,
                                                                     max_content_blocks=2))
    yield application
    context.close()


def _tool(name: str) -> dict[str, Any]:
    return {"type": "function", "function": {"name": name, "parameters": {"type": "object", "properties": {}}}}


@pytest.mark.parametrize(("path", "body", "param"), [
    ("/v1/chat/completions", {**CHAT, "messages": USER * 4}, "messages"),
    ("/v1/chat/completions", {**CHAT, "stop": ["a", "b", "c"]}, "stop"),
    ("/v1/chat/completions", {**CHAT, "tools": [_tool("a"), _tool("b"), _tool("c")]}, "tools"),
    ("/v1/chat/completions", {**CHAT, "logit_bias": {"1": 1, "2": 1, "3": 1}}, "logit_bias"),
    ("/v1/completions", {**COMPLETION, "stop": ["a", "b", "c"]}, "stop"),
    ("/v1/completions", {**COMPLETION, "logit_bias": {"1": 1, "2": 1, "3": 1}}, "logit_bias"),
    ("/tokenize", {"model": "scripted", "messages": USER * 4}, "messages"),
])
def test_count_limits_on_every_route(small_limits_app: Any, path: str, body: dict[str, Any], param: str) -> None:
    error = _assert_400(_run(_post(small_limits_app, path, body)), param)
    assert error["code"] == "too_many_items"
    within = {**body, param: body[param][:2] if isinstance(body[param], list) else dict(list(body[param].items())[:2])}
    assert _run(_post(small_limits_app, path, within)).status_code == 200


# -- off the loop, once per request ------------------------------------------------------------

def test_content_parts_are_counted(small_limits_app: Any) -> None:
    parts = [{"type": "text", "text": "a"}] * 3
    for path in ("/v1/chat/completions", "/tokenize"):
        body = {"model": "scripted", "messages": [{"role": "user", "content": parts}]}
        error = _assert_400(_run(_post(small_limits_app, path, body)), "messages[0].content")
        assert error["code"] == "too_many_items"
        body["messages"][0]["content"] = parts[:2]
        assert _run(_post(small_limits_app, path, body)).status_code == 200


def test_tools_without_a_parser_name_tools(app: Any) -> None:
    """A model with no tool-call format (until the core's generic fallback): a 400 naming tools."""
    response = _run(_post(app, "/v1/chat/completions", {**CHAT, "tools": [_tool("a")]}))
    if response.status_code != 200:
        _assert_400(response, "tools")


def test_validation_runs_on_the_work_pool(app: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    from lmstream_server import chat, completions

    threads: list[str] = []
    for module, name in ((chat, "plan_chat"), (completions, "plan_completions")):
        original = getattr(module, name)

        def spy(*args: Any, _original: Any = original) -> Any:
            threads.append(threading.current_thread().name)
            return _original(*args)

        monkeypatch.setattr(module, name, spy)
    assert _run(_post(app, "/v1/chat/completions", CHAT)).status_code == 200
    assert _run(_post(app, "/v1/completions", COMPLETION)).status_code == 200
    assert len(threads) == 2 and all(t.startswith("lmstream-request-work") for t in threads), threads


def test_a_schema_is_checked_once_per_request_not_per_choice(app: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    from lmstream.protocol import _structured

    calls: list[int] = []
    original = _structured.normalize_response_format

    def counting(value: Any) -> Any:
        calls.append(1)
        return original(value)

    monkeypatch.setattr(_structured, "normalize_response_format", counting)
    schema = {"type": "object", "properties": {"a": {"type": "string"}}}
    body = {**CHAT, "n": 3, "seed": 7,
            "response_format": {"type": "json_schema", "json_schema": {"name": "x", "schema": schema}}}
    response = _run(_post(app, "/v1/chat/completions", body))
    assert response.status_code in (200, 400), response.text  # the scripted reply need not fit the schema
    assert len(calls) == 1


# -- any value in any field: a 4xx or a 200, never a 500 ----------------------------------------

JSON = st.recursive(
    st.none() | st.booleans() | st.integers(-2**70, 2**70) | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=8) | st.sampled_from(["\ud800", "²", "", "auto", "required", "none", "text", "json_object"]),
    lambda children: st.lists(children, max_size=3) | st.dictionaries(
        st.sampled_from(["type", "role", "content", "name", "function", "json_schema", "schema", "text",
                         "include_usage", "1", "²", "arguments", "parameters", "tool_calls", "reasoning"]),
        children, max_size=3),
    max_leaves=12)
CHAT_FIELDS = ["model", "messages", "stream", "stream_options", "max_tokens", "temperature", "top_p", "top_k",
               "min_p", "repetition_penalty", "seed", "stop", "n", "presence_penalty", "frequency_penalty",
               "logit_bias", "user", "metadata", "tools", "tool_choice", "parallel_tool_calls",
               "max_completion_tokens", "logprobs", "top_logprobs", "response_format", "store",
               "reasoning_effort", "service_tier", "prompt_cache_key", "verbosity"]


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@example("/v1/chat/completions", [("logit_bias", {"²": 1})])
@example("/v1/completions", [("prompt", "\ud800")])
@example("/tokenize", [("prompt", "x\udfff")])
@example("/v1/chat/completions", [("response_format", {"type": "json_schema", "json_schema": {
    "name": "deep", "schema": _nested_schema(200)}})])
@given(st.sampled_from(["/v1/chat/completions", "/v1/completions", "/tokenize", "/detokenize"]),
       st.lists(st.tuples(st.sampled_from([*CHAT_FIELDS, "prompt", "tokens", "echo", "best_of"]), JSON),
                min_size=1, max_size=3))
def test_any_field_value_is_never_a_500(app: Any, path: str, fields: list[tuple[str, Any]]) -> None:
    body: dict[str, Any] = {"model": "scripted", "max_tokens": 4}
    body.update({"/v1/chat/completions": {"messages": USER}, "/v1/completions": {"prompt": "hi"},
                 "/tokenize": {"prompt": "hi"}, "/detokenize": {"tokens": [65]}}[path])
    if path in ("/tokenize", "/detokenize"):
        body.pop("max_tokens")
    body.update(dict(fields))
    response = _run(_post(app, path, body))
    assert response.status_code in (200, 400, 404), (body, response.text)
    if response.status_code == 400:
        assert response.json()["error"]["message"]


@pytest.mark.parametrize(("path", "body"), [("/v1/chat/completions", CHAT), ("/v1/completions", COMPLETION),
                                            ("/tokenize", {"model": "scripted", "prompt": "hi"})])
def test_the_loop_serves_others_while_a_request_is_prepared(app: Any, monkeypatch: pytest.MonkeyPatch,
                                                            path: str, body: dict[str, Any]) -> None:
    """Preparation is held on an event until /health has answered: on the loop it would deadlock
    (the event waits out its timeout and /health answers only after it)."""
    from lmstream_server import chat, completions, misc

    release = threading.Event()
    entered = threading.Event()
    module, name = {"/v1/chat/completions": (chat, "plan_chat"), "/v1/completions": (completions, "plan_completions"),
                    "/tokenize": (misc, "_tokenize")}[path]
    original = getattr(module, name)

    def held(*args: Any) -> Any:
        entered.set()
        release.wait(timeout=20)
        return original(*args)

    monkeypatch.setattr(module, name, held)

    async def scenario() -> tuple[int, bool]:
        async with http_client(app) as http:
            request = asyncio.create_task(http.post(path, json=body))
            while not entered.is_set():
                await asyncio.sleep(0.01)
            health = await http.get("/health")
            answered_while_held = not release.is_set()
            release.set()
            assert (await request).status_code == 200
            return health.status_code, answered_while_held

    status, answered_while_held = _run(scenario())
    assert status == 200 and answered_while_held
