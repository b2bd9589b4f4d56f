"""The drain deadline: a stream still running when the server stops gets its API's closing events.

uvicorn stops accepting, waits ``--drain-timeout`` seconds for responses to finish, then cancels
the rest; the cancelled ``EventSourceResponse`` sends ``closing_events`` (the API's error event
and its terminal event) and ends the body properly, so the client can tell it was cut.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator

import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.routing import Route

from lmstream_server.sse import EventSourceResponse, sse_data

from .transport_server import connect, http_request, running

pytest.importorskip("uvicorn")


def closing(message: str) -> bytes:
    return sse_data({"error": {"message": message}}) + b"data: [DONE]\n\n"


def _app(closes: list[int]) -> Starlette:
    async def endless() -> AsyncIterator[bytes]:
        while True:
            yield sse_data({"tick": True})
            await asyncio.sleep(0.05)

    async def stream(request: Request) -> EventSourceResponse:
        return EventSourceResponse(endless(), keepalive_s=10, on_close=lambda: closes.append(1),
                                   closing_events=closing)

    return Starlette(routes=[Route("/stream", stream, methods=["POST"])])  # type: ignore[list-item]


def test_a_stream_cut_at_the_drain_deadline_ends_with_the_closing_events() -> None:
    closes: list[int] = []
    with running(_app(closes), drain_timeout_s=1) as (port, server):
        sock = connect(port, timeout=20)
        sock.sendall(http_request("/stream", {}))
        received = b""
        while received.count(b"tick") < 3:
            received += sock.recv(65536)
        started = time.monotonic()
        server.should_exit = True
        while True:
            piece = sock.recv(65536)
            if not piece:
                break
            received += piece
        waited = time.monotonic() - started
        sock.close()
    assert b'data: {"error":{"message":"the server ended this stream' in received
    assert received.endswith(b"data: [DONE]\n\n\r\n0\r\n\r\n")  # the last event, then the chunked end
    assert 0.9 < waited < 10
    assert closes == [1]
