"""Server-sent events: an ASGI response that watches for the client leaving and never leaks.

Unlike Starlette's StreamingResponse (which, on ASGI 2.4 servers, only notices a gone client
when a write fails), this response listens for ``http.disconnect`` the whole time and cancels
the producing task at once, so the generation stops within one decode step. It also sends a
keep-alive comment when nothing was sent for a while (long prefills behind proxies), and the
headers streaming needs: ``Cache-Control: no-cache``, ``X-Accel-Buffering: no``, no compression.

Accounting: every way a response can end (finished, body failed, client gone, a write failed
or stalled past the write timeout, the response task cancelled at any await) runs the same
``_finish``: the body's task is cancelled, the body closed and ``on_close`` (which releases the
request's slots) called exactly once. No ``asyncio.wait_for`` is used anywhere: on Python
3.10-3.11 a cancel that lands in the same loop iteration as the awaited item is swallowed by
it, which once left writers looping forever with their slots held.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections.abc import AsyncIterator, Callable, Iterable, Mapping
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
CLEANUP_S = 5.0
"""How long the end of a response waits for its own tasks and its last bytes, at most."""
CUT_MESSAGE = "the server ended this stream before it was complete (it is shutting down)"
FAILED_MESSAGE = "the stream failed on the server; the answer is incomplete"


def sse_data(payload: Any, event: str | None = None) -> bytes:
    """One SSE event: optional ``event:`` line, then the JSON payload on one ``data:`` line."""
    data = payload if isinstance(payload, str) else json.dumps(payload, ensure_ascii=False,
                                                               separators=(",", ":"))
    head = f"event: {event}\n" if event else ""
    return f"{head}data: {data}\n\n".encode()


async def settle(tasks: Iterable[asyncio.Future[Any]], timeout_s: float = CLEANUP_S) -> bool:
    """Cancel ``tasks`` and wait (bounded) for them to end; True when a cancel of ours arrived meanwhile.

    Never raises: cleanup must run to its end. The caller re-raises the cancellation afterwards.
    """
    pending = {task for task in tasks if not task.done()}
    for task in pending:
        task.cancel()
    cancelled = False
    while pending:
        try:
            _, pending = await asyncio.wait(pending, timeout=timeout_s)
        except asyncio.CancelledError:
            cancelled = True  # cancelled again while cleaning up: finish cleaning, then re-raise
            continue
        if pending:
            logger.error("%d response task(s) ignored cancellation for %.0fs; abandoned", len(pending), timeout_s)
            break
    for task in tasks:  # fetch exceptions so that asyncio does not log them as never retrieved
        if task.done() and not task.cancelled():
            task.exception()
    return cancelled


class EventSourceResponse:
    """Streams the bytes of ``body`` as ``text/event-stream``; a gone client cancels ``body``.

    ``on_close`` runs exactly once at the end however it ended (finished, disconnected, failed,
    cancelled). ``write_timeout_s``: a client that accepts no bytes for that long is gone (the
    app sets the server's ``write_timeout_s`` when none is given). ``closing_events(message)``:
    the API's error event plus its terminal event, sent when the server cuts the stream (the
    response task is cancelled at the drain deadline) or when the body fails, so that a client
    can tell the answer is incomplete. ``headers``: extra response headers (after the SSE ones).
    """

    def __init__(self, body: AsyncIterator[bytes], *, keepalive_s: float,
                 on_close: Callable[[], None] | None = None, queue_size: int = 64,
                 write_timeout_s: float | None = None,
                 closing_events: Callable[[str], bytes] | None = None,
                 headers: Mapping[str, str] | None = None) -> None:
        self.body = body
        self.headers = [*SSE_HEADERS, *((key.lower().encode(), value.encode())
                                        for key, value in (headers or {}).items())]
        self.keepalive_s = keepalive_s
        self.on_close = on_close
        self.queue_size = queue_size
        self.write_timeout_s = write_timeout_s
        self.closing_events = closing_events
        self.disconnected = False
        self.outcome: str | None = None
        """How it ended: ``finished``, ``failed`` (the body raised), ``gone`` (client), ``cut`` (cancelled)."""
        self._closed = False
        self._started = False
        self._ended = False
        self._sending_since: float | None = None
        self._last_sent = 0.0
        self._failure: str | None = None
        self._written: tuple[bytes, bytes] = (b"", b"")

    @property
    def tail(self) -> bytes:
        """The last two writes of the body (where an API's usage and terminal events are)."""
        return b"".join(self._written)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if self._closed:
            raise RuntimeError("an EventSourceResponse can be sent once")
        queue: asyncio.Queue[bytes | None] = asyncio.Queue(self.queue_size)
        loop = asyncio.get_running_loop()
        self._last_sent = loop.time()
        pump = asyncio.ensure_future(self._pump(queue))
        watch = asyncio.ensure_future(self._watch(receive))
        writer = asyncio.ensure_future(self._write(queue, send))
        ticker = asyncio.ensure_future(self._tick(queue))
        tasks = (pump, watch, writer, ticker)
        cut = False
        try:
            done, _ = await asyncio.wait({watch, writer, ticker}, return_when=asyncio.FIRST_COMPLETED)
            if writer in done and not writer.cancelled() and writer.exception() is None:
                self.outcome = "failed" if self._failure is not None else "finished"
            else:  # the client left, a write failed, or the client stopped reading past the write timeout
                self.disconnected = True
                self.outcome = "gone"
        except BaseException:
            cut = True  # the server cut the stream (drain deadline) or the task was cancelled otherwise
            self.outcome = "cut"
            raise
        finally:
            for task in tasks:
                task.cancel()
            if cut and not self.disconnected:  # first, while the server still runs this task
                await self._send_closing(send, CUT_MESSAGE)
            cancelled_again = await settle(tasks)
            await self._finish()
            if cancelled_again and not cut:
                raise asyncio.CancelledError()

    async def close_unsent(self) -> None:
        """End a response that will never be sent (its request was cancelled first): close, release."""
        await self._finish()

    async def _finish(self) -> None:
        """Close the body and call ``on_close``, once (every exit path comes here)."""
        if self._closed:
            return
        self._closed = True
        try:
            aclose = getattr(self.body, "aclose", None)
            if aclose is not None:
                closing = asyncio.ensure_future(aclose())
                if await settle_quietly(closing):
                    raise asyncio.CancelledError()
        finally:
            if self.on_close is not None:
                try:
                    self.on_close()
                except Exception:
                    logger.exception("on_close of a stream failed")

    async def _send_closing(self, send: Send, message: str) -> None:
        """After a cut: the API's closing events (if any) and the end of the body, bounded in time.

        Sent from the cut task itself (a server shutting down cancels every task it has not
        finished yet, a new one would not get to run); a stalled client cannot hold it: a timer
        cancels the send after the write timeout.
        """
        if not self._started or self._ended:
            return
        parts = []
        if self.closing_events is not None:
            try:
                parts.append(self.closing_events(message))
            except Exception:
                logger.exception("closing_events failed")
        task = asyncio.current_task()
        timer = None if task is None else asyncio.get_running_loop().call_later(
            min(CLEANUP_S, self.write_timeout_s or CLEANUP_S), task.cancel)
        try:
            await self._send_all(send, parts)
        except BaseException as exc:  # cleanup: a cancel or a write error ends the attempt
            logger.debug("closing events not sent: %r", exc)
        finally:
            if timer is not None:
                timer.cancel()

    async def _send_all(self, send: Send, parts: list[bytes]) -> None:
        if parts:
            await send({"type": "http.response.body", "body": b"".join(parts), "more_body": True})
        self._ended = True
        await send({"type": "http.response.body", "body": b"", "more_body": False})

    async def _pump(self, queue: asyncio.Queue[bytes | None]) -> None:
        try:
            async for piece in self.body:
                await queue.put(piece)
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # the body builds its own error events; this is a last resort
            logger.exception("SSE body failed")
            self._failure = f"{FAILED_MESSAGE} ({type(exc).__name__})"
            if self.closing_events is not None:
                try:
                    await queue.put(self.closing_events(FAILED_MESSAGE))
                except asyncio.CancelledError:
                    raise
                except Exception:
                    logger.exception("closing_events failed")
        await queue.put(None)

    async def _watch(self, receive: Receive) -> None:
        while True:
            message = await receive()
            if message.get("type") == "http.disconnect":
                return

    async def _tick(self, queue: asyncio.Queue[bytes | None]) -> None:
        """Keep-alive comments while idle; returns (= the client is gone) when a write stalls too long."""
        loop = asyncio.get_running_loop()
        write_timeout = self.write_timeout_s
        while True:
            now = loop.time()
            since = self._sending_since
            if since is not None and write_timeout is not None:
                if now - since >= write_timeout:
                    logger.info("a client accepted no bytes for %.0fs: treated as gone", write_timeout)
                    return
                wait = since + write_timeout - now
            else:
                due = self._last_sent + self.keepalive_s
                if now >= due:
                    if queue.empty():
                        queue.put_nowait(KEEPALIVE)
                    self._last_sent = now
                    due = now + self.keepalive_s
                wait = due - now
                if write_timeout is not None:
                    wait = min(wait, write_timeout)
            await asyncio.sleep(max(wait, 0.001))

    async def _send(self, send: Send, message: dict[str, Any]) -> None:
        loop = asyncio.get_running_loop()
        self._sending_since = loop.time()
        try:
            await send(message)
        finally:
            self._sending_since = None
            self._last_sent = loop.time()

    async def _write(self, queue: asyncio.Queue[bytes | None], send: Send) -> None:
        await self._send(send, {"type": "http.response.start", "status": 200, "headers": self.headers})
        self._started = True
        while True:
            piece = await queue.get()
            if piece is None:
                break
            pieces, finished = [piece], False
            while not queue.empty():  # what is ready goes out in one write; never waits for more
                more = queue.get_nowait()
                if more is None:
                    finished = True
                    break
                pieces.append(more)
            data = b"".join(pieces)
            self._written = (self._written[1], data)
            await self._send(send, {"type": "http.response.body", "body": data, "more_body": True})
            if finished:
                break
        self._ended = True
        await self._send(send, {"type": "http.response.body", "body": b"", "more_body": False})


async def settle_quietly(task: asyncio.Future[Any], timeout_s: float = CLEANUP_S) -> bool:
    """Wait (bounded) for one cleanup task; log its failure; True when we were cancelled meanwhile."""
    cancelled = False
    try:
        await asyncio.wait({task}, timeout=timeout_s)
    except asyncio.CancelledError:
        cancelled = True
        with contextlib.suppress(BaseException):
            await asyncio.wait({task}, timeout=timeout_s)
    if not task.done():
        task.cancel()
    elif not task.cancelled() and task.exception() is not None:
        logger.debug("stream cleanup step failed: %r", task.exception())
    return cancelled
