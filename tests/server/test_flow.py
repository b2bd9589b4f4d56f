"""The one request skeleton (``flow.answer``): every route goes through it, and it gives the
request's slots back exactly once on every path (open fails, collect fails, stream ends)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import pytest

pytest.importorskip("starlette")

from lmstream_server import chat, completions, flow, messages, responses
from lmstream_server.errors import APIError

from .asgi_driver import call
from .conftest import http_client

USER = [{"role": "user", "content": "hi"}]


class FakeStream:
    """Stands for an EventStream: records cancels."""

    def __init__(self) -> None:
        self.cancels = 0

    def cancel(self) -> None:
        self.cancels += 1


@dataclass
class FakeAnswer:
    """An API part that can fail where told."""

    streaming: bool = False
    fail_open: bool = False
    fail_collect: bool = False
    slots: int = 2
    headers: Mapping[str, str] = field(default_factory=dict)
    streams: list[FakeStream] = field(default_factory=lambda: [FakeStream(), FakeStream()])

    async def open(self) -> Any:
        if self.fail_open:
            raise APIError(400, "bad", param="x")
        return self.streams

    async def _events(self) -> AsyncIterator[bytes]:
        yield b"data: 1\n\n"

    def events(self, streams: Sequence[Any]) -> AsyncIterator[bytes]:
        return self._events()

    async def collect(self, streams: Sequence[Any]) -> Any:
        if self.fail_collect:
            raise APIError(500, "failed")
        return {"ok": True}

    def closing_events(self, message: str) -> bytes:
        return b"data: end\n\n"


@pytest.fixture
def state(served: Any) -> Any:
    return served().state.lmstream


async def test_open_failure_releases_the_slots(state: Any) -> None:
    with pytest.raises(APIError):
        await flow.answer(state, FakeAnswer(fail_open=True))
    assert state.in_flight == 0


async def test_collect_releases_and_cancels_on_success_and_failure(state: Any) -> None:
    fake = FakeAnswer()
    assert await flow.answer(state, fake) == {"ok": True}
    assert state.in_flight == 0 and [s.cancels for s in fake.streams] == [1, 1]
    failing = FakeAnswer(fail_collect=True)
    with pytest.raises(APIError):
        await flow.answer(state, failing)
    assert state.in_flight == 0 and [s.cancels for s in failing.streams] == [1, 1]


async def test_headers_go_on_a_collected_answer(state: Any) -> None:
    response = await flow.answer(state, FakeAnswer(headers={"x-a": "b"}))
    assert response.headers["x-a"] == "b"


async def test_a_stream_holds_its_slots_until_it_ends_then_releases_once(state: Any) -> None:
    fake = FakeAnswer(streaming=True, headers={"x-a": "b"})
    response = await flow.answer(state, fake)
    assert state.in_flight == 2  # held while the response has not run
    result = await call(response, "/stream", {})
    assert b"data: 1" in result.body and result.headers["x-a"] == "b"
    assert state.in_flight == 0 and [s.cancels for s in fake.streams] == [1, 1]
    response.on_close()  # a second close gives nothing back twice
    assert state.in_flight == 0


@pytest.mark.parametrize(("module", "path", "body"), [
    (chat, "/v1/chat/completions", {"model": "scripted", "messages": USER}),
    (completions, "/v1/completions", {"model": "scripted", "prompt": "hi"}),
    (messages, "/v1/messages", {"model": "scripted", "max_tokens": 5, "messages": USER}),
    (responses, "/v1/responses", {"model": "scripted", "input": "hi"}),
])
@pytest.mark.parametrize("stream", [False, True])
async def test_every_route_answers_through_the_skeleton(served: Any, monkeypatch: pytest.MonkeyPatch, module: Any,
                                                        path: str, body: dict[str, Any], stream: bool) -> None:
    seen: list[str] = []

    async def spy(state: Any, api: Any) -> Any:
        seen.append(type(api).__name__)
        return await flow.answer(state, api)

    monkeypatch.setattr(module, "answer", spy)
    app = served()
    async with http_client(app) as http:
        response = await http.post(path, json={**body, "stream": stream})
    assert response.status_code == 200, response.text
    assert len(seen) == 1 and app.state.lmstream.in_flight == 0
