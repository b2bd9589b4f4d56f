"""Request bodies: nesting bounded before parsing (400 naming the body), large bodies parsed in the
work pool, utility routes admission-controlled, and a 500 that never echoes an exception."""

from __future__ import annotations

import json
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from lmstream_server import misc
from lmstream_server.httpio import json_depth_exceeds, parse_json_body

from .conftest import http_client

USER = [{"role": "user", "content": "hi"}]


def _depth(value: Any) -> int:
    if isinstance(value, dict):
        return 1 + max((_depth(v) for v in value.values()), default=0)
    if isinstance(value, list):
        return 1 + max((_depth(v) for v in value), default=0)
    return 0


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(alphabet='ab"\\[]{}\n ', max_size=6),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(alphabet='k"[]{}\\', max_size=3), inner,
                                                               max_size=3),
    max_leaves=30)


@settings(max_examples=400, deadline=None)
@given(value=json_values, limit=st.integers(1, 8))
def test_the_depth_bound_agrees_with_the_parsed_depth(value: Any, limit: int) -> None:
    text = json.dumps(value, ensure_ascii=False).encode()
    assert json_depth_exceeds(text, limit) == (_depth(value) > limit)


@pytest.mark.parametrize("depth", [513, 1000, 5000, 200_000])
async def test_deeply_nested_json_is_a_400_naming_the_body(served: Any, depth: int) -> None:
    body = b'{"model": "scripted", "messages": ' + b"[" * depth + b"]" * depth + b"}"
    async with http_client(served()) as http:
        response = await http.post("/v1/chat/completions", content=body, headers={"content-type": "application/json"})
    assert response.status_code == 400, response.text
    error = response.json()["error"]
    assert error["param"] == "body" and "levels deep" in error["message"]


def test_a_depth_at_the_limit_parses() -> None:
    body = b'{"a": ' + b"[" * 255 + b"]" * 255 + b"}"
    assert _depth(parse_json_body(body, 256)) == 256
    with pytest.raises(Exception, match="levels deep"):
        parse_json_body(b'{"a": ' + b"[" * 256 + b"]" * 256 + b"}", 256)


async def test_a_large_body_is_parsed_in_the_work_pool(served: Any) -> None:
    app = served("ok")
    state = app.state.lmstream
    calls: list[str] = []
    run = state.work.run

    async def spy(fn: Any, *args: Any, **kwargs: Any) -> Any:
        calls.append(fn.__name__)
        return await run(fn, *args, **kwargs)

    state.work.run = spy
    big = {"model": "scripted", "messages": USER, "max_tokens": 2, "user": "x" * 300_000}
    async with http_client(app) as http:
        assert (await http.post("/v1/chat/completions", json=big)).status_code == 200
        assert (await http.post("/v1/chat/completions", json={**big, "user": "u"})).status_code == 200
    assert calls.count("parse_json_body") == 1


@pytest.mark.parametrize("path, body", [
    ("/tokenize", {"model": "scripted", "prompt": "hello"}),
    ("/detokenize", {"model": "scripted", "tokens": [1, 2]}),
    ("/v1/messages/count_tokens", {"model": "scripted", "messages": USER}),
])
async def test_utility_routes_are_admission_controlled(served: Any, path: str, body: dict[str, Any]) -> None:
    app = served()
    work = app.state.lmstream.work
    async with http_client(app) as http:
        assert (await http.post(path, json=body)).status_code == 200
        work.pending = work.max_pending  # the pool is full
        busy = await http.post(path, json=body)
        assert busy.status_code == 503 and busy.headers["retry-after"]
        work.pending = 0
        assert (await http.post(path, json=body)).status_code == 200
    assert work.pending == 0


async def test_a_500_never_echoes_the_exception(served: Any, monkeypatch: pytest.MonkeyPatch, caplog: Any) -> None:
    async def broken(state: Any, body: Any) -> Any:
        raise RuntimeError("secret detail /home/user/.cache/model")

    monkeypatch.setattr(misc, "tokenize", broken)
    app = served()
    async with http_client(app) as http:
        response = await http.post("/tokenize", json={"model": "scripted", "prompt": "x"})
    assert response.status_code == 500
    message = response.json()["error"]["message"]
    assert "secret" not in message and "RuntimeError" not in message and "incident" in message
    assert "secret detail" in caplog.text  # the log has it


any_json = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=8),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=4), inner, max_size=4),
    max_leaves=40)


@settings(max_examples=300, deadline=None)
@given(value=any_json, indent=st.sampled_from([None, 0, 2, "\t"]), separators=st.sampled_from([None, (",", ":"),
                                                                                              (" , ", " : ")]))
def test_the_cooperative_parser_equals_json_loads(value: Any, indent: Any, separators: Any) -> None:
    from lmstream_server.jsonparse import cooperative_loads

    text = json.dumps(value, indent=indent, separators=separators)
    assert cooperative_loads(f" {text}\n") == json.loads(text)


@settings(max_examples=500, deadline=None)
@given(text=st.text(alphabet='[]{},:"1a \\ntrue', max_size=20))
def test_the_cooperative_parser_refuses_what_json_loads_refuses(text: str) -> None:
    from lmstream_server.jsonparse import cooperative_loads

    try:
        expected = json.loads(text)
    except ValueError:
        with pytest.raises(ValueError):
            cooperative_loads(text)
    else:
        assert cooperative_loads(text) == expected


def test_a_body_with_many_values_is_parsed_cooperatively() -> None:
    items = ",".join(['{"k": [1, 2.5, "a\\u00e9", null]}'] * 20_000)
    body = ('{"model": "m", "blob": [' + items + "]}").encode()
    assert parse_json_body(body, 256) == json.loads(body)
