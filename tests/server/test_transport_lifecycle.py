"""Every exit path of a streamed response releases its slot and closes its body exactly once.

ASGI level, no sockets: a property test ends a response at random points of its lifecycle
(the task cancelled after k loop iterations, the client leaving, a write failing, a write that
never returns because the client stopped reading, the body failing) and checks that the
response task ends, ``on_close`` ran exactly once and the body generator is closed. Then the
same through the real app and the scripted backend: ``in_flight`` returns to 0 every time.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import lmstream
from lmstream_server import create_app
from lmstream_server.sse import EventSourceResponse

SCOPE = {"type": "http", "method": "POST", "path": "/x", "headers": []}


def closing(message: str) -> bytes:
    return b"event: error\ndata: " + json.dumps({"error": message}).encode() + b"\n\nevent: done\ndata: {}\n\n"


async def _lifecycle(steps: int, cancel_at: int | None, disconnect_at: int | None, fail_write: int | None,
                     stall_write: int | None, body_fails_at: int | None) -> tuple[int, Any, EventSourceResponse]:
    closes: list[int] = []

    async def body() -> AsyncIterator[bytes]:
        for i in range(steps):
            if i == body_fails_at:
                raise RuntimeError("boom")
            await asyncio.sleep(0)
            yield f"data: {i}\n\n".encode()

    generator = body()
    gone = asyncio.Event()

    async def receive() -> dict[str, Any]:
        await gone.wait()
        return {"type": "http.disconnect"}

    writes = 0

    async def send(message: dict[str, Any]) -> None:
        nonlocal writes
        writes += 1
        if writes == fail_write:
            raise OSError("connection reset")
        if writes == stall_write:
            await asyncio.Event().wait()  # the client stopped reading: this write never completes
        await asyncio.sleep(0)

    response = EventSourceResponse(generator, keepalive_s=0.01, on_close=lambda: closes.append(1),
                                   write_timeout_s=0.05, closing_events=closing)
    task = asyncio.ensure_future(response(SCOPE, receive, send))
    await asyncio.sleep(0)  # the response has started (Starlette awaits it in the running request task)
    for i in range(max(cancel_at or 0, disconnect_at or 0) + 1):
        if i == cancel_at:
            task.cancel()
        if i == disconnect_at:
            gone.set()
        await asyncio.sleep(0)
    done, _ = await asyncio.wait({task}, timeout=5)
    assert task in done, "the response never ended"
    if not task.cancelled():
        task.exception()
    return len(closes), generator, response


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(steps=st.integers(0, 12), cancel_at=st.none() | st.integers(0, 40), disconnect_at=st.none() | st.integers(0, 40),
       fail_write=st.none() | st.integers(1, 14), stall_write=st.none() | st.integers(1, 14),
       body_fails_at=st.none() | st.integers(0, 12))
def test_every_exit_path_closes_exactly_once(steps: int, cancel_at: int | None, disconnect_at: int | None,
                                            fail_write: int | None, stall_write: int | None,
                                            body_fails_at: int | None) -> None:
    closes, generator, response = asyncio.run(
        _lifecycle(steps, cancel_at, disconnect_at, fail_write, stall_write, body_fails_at))
    assert closes == 1
    assert generator.ag_frame is None or not generator.ag_running  # closed, or never started
    assert response.outcome in ("finished", "failed", "gone", "cut")


async def _endless(offset: int, body_sleeps: int, send_sleeps: int, how: str) -> int:
    closes: list[int] = []
    gone = asyncio.Event()

    async def body() -> AsyncIterator[bytes]:
        while True:
            for _ in range(body_sleeps):
                await asyncio.sleep(0)
            yield b"data: x\n\n"

    async def receive() -> dict[str, Any]:
        await gone.wait()
        return {"type": "http.disconnect"}

    async def send(message: dict[str, Any]) -> None:
        for _ in range(send_sleeps):
            await asyncio.sleep(0)

    response = EventSourceResponse(body(), keepalive_s=10, on_close=lambda: closes.append(1))
    task = asyncio.ensure_future(response(SCOPE, receive, send))
    for _ in range(offset + 1):
        await asyncio.sleep(0)
    if how == "cancel":
        task.cancel()
    else:
        gone.set()
    done, _ = await asyncio.wait({task}, timeout=2)
    assert task in done, f"hung: offset={offset} body_sleeps={body_sleeps} send_sleeps={send_sleeps} {how}"
    return len(closes)


@pytest.mark.parametrize("how", ["cancel", "disconnect"])
async def test_a_cancel_landing_with_an_item_is_never_swallowed(how: str) -> None:
    """The old writer's ``wait_for(queue.get())`` swallowed a cancel arriving with an item (Python
    3.11): the response hung with its slot held. Every interleaving of a small grid must end."""
    for body_sleeps in range(4):
        for send_sleeps in range(3):
            for offset in range(12):
                assert await _endless(offset, body_sleeps, send_sleeps, how) == 1


async def test_a_client_that_stops_reading_is_gone_after_the_write_timeout() -> None:
    closes, _, response = await _lifecycle(50, None, None, None, 3, None)
    assert closes == 1 and response.outcome == "gone" and response.disconnected


async def test_a_failing_body_sends_the_closing_events() -> None:
    sent: list[bytes] = []

    async def body() -> AsyncIterator[bytes]:
        yield b"data: 1\n\n"
        raise RuntimeError("boom")

    async def receive() -> dict[str, Any]:
        await asyncio.Event().wait()
        return {}

    async def send(message: dict[str, Any]) -> None:
        sent.append(message.get("body", b""))

    response = EventSourceResponse(body(), keepalive_s=10, closing_events=closing)
    await response(SCOPE, receive, send)
    raw = b"".join(sent)
    assert raw.startswith(b"data: 1\n\n") and b"event: error" in raw and raw.endswith(b"event: done\ndata: {}\n\n")
    assert response.outcome == "failed"


async def test_a_cut_stream_ends_with_the_closing_events() -> None:
    """The drain deadline cancels the response task: the client gets an error and a terminal event."""
    sent: list[dict[str, Any]] = []
    first = asyncio.Event()

    async def body() -> AsyncIterator[bytes]:
        while True:
            yield b"data: tick\n\n"
            first.set()
            await asyncio.sleep(0.01)

    async def receive() -> dict[str, Any]:
        await asyncio.Event().wait()
        return {}

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    response = EventSourceResponse(body(), keepalive_s=10, closing_events=closing)
    task = asyncio.ensure_future(response(SCOPE, receive, send))
    await first.wait()
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    raw = b"".join(m.get("body", b"") for m in sent)
    assert b"event: error" in raw and b"shutting down" in raw
    assert sent[-1] == {"type": "http.response.body", "body": b"", "more_body": False}
    assert response.outcome == "cut"


CHAT = {"model": "scripted", "messages": [{"role": "user", "content": "Count."}], "stream": True}


def _asgi_request(body: dict[str, Any], gone: asyncio.Event, writes_before_leaving: int | None,
                  sent: list[dict[str, Any]]) -> tuple[dict[str, Any], Any, Any]:
    requested = False
    scope = {"type": "http", "asgi": {"version": "3.0", "spec_version": "2.4"}, "http_version": "1.1",
             "method": "POST", "scheme": "http", "path": "/v1/chat/completions",
             "raw_path": b"/v1/chat/completions", "query_string": b"", "root_path": "",
             "headers": [(b"content-type", b"application/json"), (b"host", b"127.0.0.1")],
             "client": ("127.0.0.1", 50000), "server": ("127.0.0.1", 80)}

    async def receive() -> dict[str, Any]:
        nonlocal requested
        if not requested:
            requested = True
            return {"type": "http.request", "body": json.dumps(body).encode(), "more_body": False}
        await gone.wait()
        return {"type": "http.disconnect"}

    async def send(message: dict[str, Any]) -> None:
        if gone.is_set():
            raise OSError("client gone")
        sent.append(message)
        if writes_before_leaving is not None and len(sent) >= writes_before_leaving:
            gone.set()

    return scope, receive, send


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(cancel_at=st.none() | st.integers(0, 200), leave_after=st.none() | st.integers(1, 6),
       stream=st.booleans())
def test_the_app_frees_its_slots_however_a_request_ends(cancel_at: int | None, leave_after: int | None,
                                                        stream: bool) -> None:
    context = lmstream.load(backend="scripted", reply="tick ", repeat=True, token_delay=0.001)
    try:
        asyncio.run(_app_case(context, cancel_at, leave_after, stream))
    finally:
        context.close()


async def _app_case(context: lmstream.ModelContext, cancel_at: int | None, leave_after: int | None,
                    stream: bool) -> None:
    app = create_app(context, max_batch_size=2, max_queue=0)
    state = app.state.lmstream
    gone = asyncio.Event()
    sent: list[dict[str, Any]] = []
    body = {**CHAT, "stream": stream, "max_tokens": 40}
    scope, receive, send = _asgi_request(body, gone, leave_after, sent)
    task = asyncio.ensure_future(app(scope, receive, send))
    for i in range((cancel_at or 0) + 1):
        if i == cancel_at:
            task.cancel()
        if task.done():
            break
        await asyncio.sleep(0.0005 if i % 10 == 0 else 0)
    if cancel_at is None and leave_after is None:
        await asyncio.wait({task}, timeout=20)
    else:
        task.cancel()
        gone.set()
    done, _ = await asyncio.wait({task}, timeout=20)
    assert task in done
    for _ in range(200):
        if state.in_flight == 0:
            break
        await asyncio.sleep(0.01)
    assert state.in_flight == 0
