"""Server fixes found by the JavaScript clients (tests/clients/js): one regression test each.

- ``@anthropic-ai/sdk``'s ``beta.messages.toolRunner`` sends ``thread: {"type": "create"}`` and
  goes on without threads only when the 400 carries ``error.details.error_code ==
  "thread_unsupported_request"``; a plain 400 ended the runner's loop with an error.
- ``models.retrieve(id)`` (openai-node, ``@anthropic-ai/sdk``) is ``GET /v1/models/{id}``: it was a
  404 "no route". It now answers the model a request naming ``id`` gets; Anthropic's model
  fields (``type``, ``display_name``, ``created_at``) and page fields ride along.
"""

from __future__ import annotations

from typing import Any

import pytest

import lmstream

from .conftest import anthropic_client, http_client, openai_client

pytest.importorskip("starlette")

from lmstream_server import create_app

USER = [{"role": "user", "content": "hi"}]


async def test_message_thread_is_rejected_in_the_shape_the_tool_runner_recovers_from(served: Any) -> None:
    app = served("Hello there.")
    body = {"model": "claude-sonnet-4-5", "max_tokens": 20, "messages": USER}
    async with http_client(app, **{"anthropic-version": "2023-06-01"}) as http:
        rejected = await http.post("/v1/messages", json={**body, "thread": {"type": "create"}})
        assert rejected.status_code == 400, rejected.text
        error = rejected.json()["error"]
        assert error["type"] == "invalid_request_error" and "thread" in error["message"]
        assert error["details"] == {"error_code": "thread_unsupported_request", "unsupported": ["thread"]}
        again = await http.post("/v1/messages", json=body)  # the runner's retry: the same turn, no thread
        assert again.status_code == 200 and again.json()["content"][0]["text"] == "Hello there."
        plain = await http.post("/v1/messages", json={**body, "bogus": 1})  # other 400s carry no details
        assert plain.status_code == 400 and "details" not in plain.json()["error"]


async def test_models_retrieve_with_both_sdks(served: Any) -> None:
    app = served("Hello there.")
    model = await openai_client(app).models.retrieve("gpt-4o")  # one served model answers any name
    assert model.id == "scripted" and model.object == "model" and model.owned_by == "lmstream"
    claude = await anthropic_client(app).models.retrieve("claude-sonnet-4-5")
    assert claude.id == "scripted" and claude.type == "model" and claude.display_name == "scripted"
    assert claude.created_at.year >= 2024
    page = await anthropic_client(app).models.list()
    assert [m.id for m in page.data] == ["scripted"] and page.has_more is False and page.first_id == "scripted"
    async with http_client(app) as http:
        nested = await http.get("/v1/models/org/Scripted")  # ids with a slash (hub names) reach the route
        assert nested.status_code == 200 and nested.json()["id"] == "scripted"


async def test_models_retrieve_of_an_unknown_name_is_a_404_in_the_callers_shape() -> None:
    contexts = {name: lmstream.load(backend="scripted", reply="Hi.") for name in ("first", "second")}
    app = create_app(contexts)  # two models: a name that matches neither is not served
    async with http_client(app) as http:
        assert (await http.get("/v1/models/second")).json()["id"] == "second"
        openai_style = await http.get("/v1/models/gpt-4o")
        assert openai_style.status_code == 404 and openai_style.json()["error"]["param"] == "model"
        anthropic_style = await http.get("/v1/models/gpt-4o", headers={"anthropic-version": "2023-06-01"})
        assert anthropic_style.status_code == 404 and anthropic_style.json()["type"] == "error"
    for context in contexts.values():
        context.close()
