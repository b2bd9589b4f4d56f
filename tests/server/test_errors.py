"""Error answers: shapes, statuses and the field they name; unsupported parameters are refused."""

from __future__ import annotations

import asyncio
import dataclasses
import json
from typing import Any

import pytest

from .conftest import anthropic, anthropic_client, http_client, openai, openai_client, sse_events

USER = [{"role": "user", "content": "hi"}]
CHAT = {"model": "scripted", "messages": USER}


async def _post(app: Any, path: str, body: Any, **headers: str) -> Any:
    async with http_client(app, **headers) as http:
        if isinstance(body, bytes):
            return await http.post(path, content=body, headers={"content-type": "application/json"})
        return await http.post(path, json=body)


@pytest.mark.parametrize(("body", "param", "code"), [
    ({**CHAT, "temperature": 5}, "temperature", "invalid_value"),
    ({**CHAT, "messages": []}, "messages", "invalid_value"),
    ({"messages": USER}, "model", "invalid_value"),
    ({**CHAT, "messages": [{"role": "wizard", "content": "x"}]}, "messages[0].role", "invalid_value"),
    ({**CHAT, "frobnicate": True}, "frobnicate", "unsupported_parameter"),
    ({**CHAT, "": 1}, '[""]', "unsupported_parameter"),
    ({**CHAT, "messages": [{"role": "user", "content": [{"type": "image_url", "image_url": {"url": "x"}}]}]},
     "messages[0].content[0].type", "unsupported_parameter"),
    ({**CHAT, "n": 99}, "n", None),
    ({**CHAT, "stop": [""]}, "stop", None),
    ({**CHAT, "logit_bias": {"abc": 1}}, "logit_bias", None),
    ({**CHAT, "stream_options": {"include_usage": True}}, "stream_options", "invalid_value"),
])
async def test_chat_400_names_the_field(served: Any, body: dict[str, Any], param: str, code: str | None) -> None:
    response = await _post(served(), "/v1/chat/completions", body)
    assert response.status_code == 400, response.text
    error = response.json()["error"]
    assert error["param"] == param and error["type"] == "invalid_request_error"
    assert set(error) == {"message", "type", "param", "code"} and error["message"]
    if code:
        assert error["code"] == code


async def test_unsupported_parameters_on_every_api(served: Any) -> None:
    app = served()
    for path, body in [("/v1/completions", {"model": "scripted", "prompt": "x", "echo": True}),
                       ("/v1/completions", {"model": "scripted", "prompt": "x", "suffix": "y"}),
                       ("/v1/responses", {"model": "scripted", "input": "x", "conversation": "conv_1"}),
                       ("/v1/responses", {"model": "scripted", "input": "x", "prompt": {"id": "pmpt_1"}}),
                       ("/tokenize", {"model": "scripted", "prompt": "x", "extra": 1})]:
        response = await _post(app, path, body)
        assert response.status_code == 400, (path, response.text)
        assert response.json()["error"]["code"] == "unsupported_parameter", path
    response = await _post(app, "/v1/messages", {"model": "scripted", "max_tokens": 5, "messages": USER,
                                                 "mcp_servers": [{"type": "url", "url": "x", "name": "m"}]})
    assert response.status_code == 400
    assert response.json() == {"type": "error", "error": {"type": "invalid_request_error",
                                                           "message": response.json()["error"]["message"]}}
    assert "mcp_servers" in response.json()["error"]["message"]


async def test_context_length_exceeded(served: Any) -> None:
    client = openai_client(served(context_length=64))
    with pytest.raises(openai.BadRequestError) as caught:
        await client.chat.completions.create(model="scripted", messages=[{"role": "user", "content": "x" * 200}])
    assert caught.value.code == "context_length_exceeded"
    assert caught.value.param == "messages"


@pytest.mark.parametrize(("path", "body", "param"), [
    ("/v1/completions", {"model": "scripted", "prompt": "x" * 200}, "prompt"),
    ("/v1/responses", {"model": "scripted", "input": "x" * 200}, "input"),
])
async def test_context_length_exceeded_names_the_route_s_prompt_field(served: Any, path: str, body: dict[str, Any],
                                                                       param: str) -> None:
    response = await _post(served(context_length=64), path, body)
    assert response.status_code == 400, response.text
    assert response.json()["error"]["code"] == "context_length_exceeded"
    assert response.json()["error"]["param"] == param


ENDLESS = {"type": "object", "required": ["a"], "properties": {"a": {"$ref": "#/$defs/A"}},
           "$defs": {"A": {"type": "object", "required": ["b"], "properties": {"b": {"$ref": "#/$defs/A"}}}}}


@pytest.mark.parametrize(("parameters", "choice", "says"), [
    ({"type": "object", "properties": 5}, "auto", "invalid parameters schema"),
    ({"type": "object", "properties": {"a": {"type": "number", "maximum": 1e400}}}, "auto", "parameters"),
    (ENDLESS, "required", "cannot be satisfied"),
])
async def test_bad_tool_schemas_are_400s_naming_tools(served: Any, parameters: Any, choice: str, says: str) -> None:
    body = {**CHAT, "tools": [{"type": "function", "function": {"name": "f", "parameters": parameters}}],
            "tool_choice": choice}
    response = await _post(served(tool_parser="json"), "/v1/chat/completions",
                           json.dumps(body).replace("1e+400", "Infinity").encode())
    assert response.status_code == 400, response.text
    error = response.json()["error"]
    assert says in error["message"] and error["param"] is not None and error["param"].startswith("tools"), error


def _strict(app: Any) -> Any:
    """``app`` with ``strict_model_names`` on (unknown names are 404 even with one model)."""
    state = app.state.lmstream
    state.limits = dataclasses.replace(state.limits, strict_model_names=True)
    return app


async def test_unknown_model_is_404_and_never_a_path(served: Any) -> None:
    client = openai_client(_strict(served()))
    for name in ("gpt-4", "/etc/passwd", "../models/x"):
        with pytest.raises(openai.NotFoundError) as caught:
            await client.chat.completions.create(model=name, messages=USER)
        assert caught.value.code == "model_not_found"
    with pytest.raises(anthropic.NotFoundError):
        await anthropic_client(_strict(served())).messages.create(model="nope", max_tokens=5, messages=USER)


async def test_api_key_bearer_and_x_api_key(served: Any) -> None:
    app = served(app_options={"api_key": "sekret"})
    with pytest.raises(openai.AuthenticationError):
        await openai_client(app, api_key="wrong").chat.completions.create(model="scripted", messages=USER)
    ok = await openai_client(app, api_key="sekret").chat.completions.create(model="scripted", messages=USER)
    assert ok.choices[0].message.content == "Hello world"
    assert (await _post(app, "/v1/chat/completions", CHAT)).status_code == 401
    assert (await _post(app, "/v1/chat/completions", CHAT, **{"x-api-key": "sekret"})).status_code == 401
    with pytest.raises(anthropic.AuthenticationError):
        await anthropic_client(app, api_key="wrong").messages.create(model="scripted", max_tokens=5, messages=USER)
    message = await anthropic_client(app, api_key="sekret").messages.create(model="scripted", max_tokens=50,
                                                                            messages=USER)
    assert message.content[0].text == "Hello world"
    async with http_client(app) as http:
        assert (await http.get("/v1/models")).status_code == 401
        assert (await http.get("/health")).status_code == 200


async def test_oversized_and_malformed_bodies(served: Any) -> None:
    app = served(app_options={"max_body_bytes": 1000})
    big = await _post(app, "/v1/chat/completions", {**CHAT, "messages": [{"role": "user", "content": "x" * 2000}]})
    assert big.status_code == 413 and big.json()["error"]["code"] == "request_too_large"
    assert (await _post(app, "/v1/messages", b"{" + b" " * 2000 + b"}")).json()["type"] == "error"
    bad = await _post(app, "/v1/chat/completions", b"{not json")
    assert bad.status_code == 400 and bad.json()["error"]["code"] == "invalid_json"
    assert (await _post(app, "/v1/chat/completions", b"[1, 2]")).status_code == 400
    async with http_client(app) as http:
        assert (await http.get("/v1/nothing")).status_code == 404
        assert (await http.get("/v1/chat/completions")).status_code == 405


async def test_queue_full_is_503_with_retry_after(served: Any) -> None:
    app = served("slow " * 50, token_delay=0.02, app_options={"max_batch_size": 1, "max_queue": 1})
    async with http_client(app) as http:
        busy = [asyncio.create_task(http.post("/v1/chat/completions", json=CHAT)) for _ in range(2)]
        await asyncio.sleep(0.3)
        refused = await http.post("/v1/chat/completions", json=CHAT)
        assert refused.status_code == 503 and refused.headers["retry-after"] == "1"
        assert refused.json()["error"]["code"] == "server_overloaded"
        anthropic_refused = await http.post("/v1/messages", json={**CHAT, "max_tokens": 5})
        assert anthropic_refused.json()["error"]["type"] == "overloaded_error"
        assert all(r.status_code == 200 for r in await asyncio.gather(*busy))
        assert (await http.post("/v1/chat/completions", json=CHAT)).status_code == 200


async def test_failure_mid_stream_is_an_sse_error_event(served: Any) -> None:
    app = served("abcdefgh", fail_at=3)
    async with http_client(app) as http:
        raw = (await http.post("/v1/chat/completions", json={**CHAT, "stream": True})).content
        events = sse_events(raw)
        assert '"error"' in events[-2][1] and "scripted failure" in events[-2][1]
        assert events[-1][1] == "[DONE]"  # the terminal event follows the error event
        raw = (await http.post("/v1/messages", json={**CHAT, "max_tokens": 20, "stream": True})).content
        assert [name for name, _ in sse_events(raw)[-2:]] == ["error", "message_stop"]
        raw = (await http.post("/v1/responses", json={"model": "scripted", "input": "x", "stream": True})).content
        assert [name for name, _ in sse_events(raw)][-2:] == ["error", "response.failed"]
        failed = await http.post("/v1/chat/completions", json=CHAT)
        assert failed.status_code == 500 and failed.json()["error"]["code"] == "generation_failed"
    with pytest.raises(openai.APIError):
        stream = await openai_client(app).chat.completions.create(model="scripted", messages=USER, stream=True)
        async for _ in stream:
            pass
