"""Server-sent events: an ASGI response that watches for the client leaving.

Unlike Starlette's StreamingResponse (which, on ASGI 2.4 servers, only notices a gone client
when a write fails), this response listens for ``http.disconnect`` the whole time and cancels
the producing task at once, so the generation stops within one decode step. It also sends a
keep-alive comment when nothing was sent for a while (long prefills behind proxies), and the
headers streaming needs: ``Cache-Control: no-cache``, ``X-Accel-Buffering: no``, no compression.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections.abc import AsyncIterator, Callable
from typing import Any

logger = logging.getLogger("lmstream.server")

Scope = dict[str, Any]
Receive = Callable[[], Any]
Send = Callable[[dict[str, Any]], Any]

SSE_HEADERS = [
    (b"content-type", b"text/event-stream; charset=utf-8"),
    (b"cache-control", b"no-cache"),
    (b"x-accel-buffering", b"no"),
    (b"connection", b"keep-alive"),
]
KEEPALIVE = b": keep-alive\n\n"


def sse_data(payload: Any, event: str | None = None) -> bytes:
    """One SSE event: optional ``event:`` line, then the JSON payload on one ``data:`` line."""
    data = payload if isinstance(payload, str) else json.dumps(payload, ensure_ascii=False,
                                                               separators=(",", ":"))
    head = f"event: {event}\n" if event else ""
    return f"{head}data: {data}\n\n".encode()


class EventSourceResponse:
    """Streams the bytes of ``body`` as ``text/event-stream``; a gone client cancels ``body``.

    ``on_close`` runs once at the end however it ended (finished, disconnected, failed).
    """

    def __init__(self, body: AsyncIterator[bytes], *, keepalive_s: float,
                 on_close: Callable[[], None] | None = None, queue_size: int = 64) -> None:
        self.body = body
        self.keepalive_s = keepalive_s
        self.on_close = on_close
        self.queue_size = queue_size
        self.disconnected = False

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        queue: asyncio.Queue[bytes | None] = asyncio.Queue(self.queue_size)
        pump = asyncio.create_task(self._pump(queue))
        watch = asyncio.create_task(self._watch(receive))
        writer = asyncio.create_task(self._write(queue, send))
        try:
            done, _ = await asyncio.wait({watch, writer}, return_when=asyncio.FIRST_COMPLETED)
            if watch in done:  # the client left: stop generating now, not at the next write
                self.disconnected = True
            elif writer.exception() is not None:  # a failed write: the client is gone too
                self.disconnected = True
        finally:
            for task in (pump, watch, writer):
                task.cancel()
            for task in (pump, watch, writer):
                with contextlib.suppress(BaseException):
                    await task
            with contextlib.suppress(BaseException):
                await self.body.aclose()  # type: ignore[attr-defined]
            if self.on_close is not None:
                self.on_close()

    async def _pump(self, queue: asyncio.Queue[bytes | None]) -> None:
        try:
            async for piece in self.body:
                await queue.put(piece)
        except asyncio.CancelledError:
            raise
        except Exception:  # the body builds its own error events; this is a last resort
            logger.exception("SSE body failed")
        await queue.put(None)

    async def _watch(self, receive: Receive) -> None:
        while True:
            message = await receive()
            if message.get("type") == "http.disconnect":
                return

    async def _write(self, queue: asyncio.Queue[bytes | None], send: Send) -> None:
        await send({"type": "http.response.start", "status": 200, "headers": SSE_HEADERS})
        while True:
            try:
                piece = queue.get_nowait() if not queue.empty() else \
                    await asyncio.wait_for(queue.get(), self.keepalive_s)
            except asyncio.TimeoutError:
                await send({"type": "http.response.body", "body": KEEPALIVE, "more_body": True})
                continue
            if piece is None:
                break
            pieces, finished = [piece], False
            while not queue.empty():  # what is ready goes out in one write; never waits for more
                more = queue.get_nowait()
                if more is None:
                    finished = True
                    break
                pieces.append(more)
            await send({"type": "http.response.body", "body": b"".join(pieces), "more_body": True})
            if finished:
                break
        await send({"type": "http.response.body", "body": b"", "more_body": False})
