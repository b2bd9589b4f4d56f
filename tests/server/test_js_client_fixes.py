"""Server fixes found by the JavaScript clients (tests/clients/js): one regression test each.

- ``@anthropic-ai/sdk``'s ``beta.messages.toolRunner`` sends ``thread: {"type": "create"}`` and
  goes on without threads only when the 400 carries ``error.details.error_code ==
  "thread_unsupported_request"``; a plain 400 ended the runner's loop with an error.
"""

from __future__ import annotations

from typing import Any

import pytest

from .conftest import http_client

pytest.importorskip("starlette")

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
