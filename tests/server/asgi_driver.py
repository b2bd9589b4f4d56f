"""Drive the ASGI app by hand: send one request, read the response, disconnect when told to.

httpx's ASGI transport buffers whole responses and only reports a disconnect at the end, so
disconnect tests speak ASGI directly (and, end to end, close a real socket).
"""

from __future__ import annotations

import asyncio
import json
from dataclasses import dataclass, field
from typing import Any


@dataclass
class Exchange:
    """What the app sent back: status, headers, body pieces, and when we disconnected."""

    status: int = 0
    headers: dict[str, str] = field(default_factory=dict)
    pieces: list[bytes] = field(default_factory=list)
    disconnected_at: float | None = None

    @property
    def body(self) -> bytes:
        return b"".join(self.pieces)


async def call(app: Any, path: str, body: dict[str, Any], *, disconnect_after: int | None = None,
               disconnect_after_s: float | None = None, timeout: float = 10.0) -> Exchange:
    """POST ``body`` to ``path``; disconnect after ``disconnect_after`` non-empty body pieces
    (or ``disconnect_after_s`` seconds)."""
    exchange = Exchange()
    gone = asyncio.Event()
    requested = False

    async def leave_later(delay: float) -> None:
        await asyncio.sleep(delay)
        exchange.disconnected_at = asyncio.get_running_loop().time()
        gone.set()

    timer = asyncio.create_task(leave_later(disconnect_after_s)) if disconnect_after_s is not None else None

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
        if message["type"] == "http.response.start":
            exchange.status = message["status"]
            exchange.headers = {k.decode(): v.decode() for k, v in message["headers"]}
        elif message["type"] == "http.response.body" and message.get("body"):
            exchange.pieces.append(message["body"])
            if disconnect_after is not None and len(exchange.pieces) >= disconnect_after:
                exchange.disconnected_at = asyncio.get_running_loop().time()
                gone.set()
        if not message.get("more_body", False) and message["type"] == "http.response.body":
            gone.set()

    scope = {"type": "http", "asgi": {"version": "3.0", "spec_version": "2.4"}, "http_version": "1.1",
             "method": "POST", "scheme": "http", "path": path, "raw_path": path.encode(), "query_string": b"",
             "root_path": "", "headers": [(b"content-type", b"application/json"), (b"host", b"test")],
             "client": ("127.0.0.1", 50000), "server": ("127.0.0.1", 80)}
    try:
        await asyncio.wait_for(app(scope, receive, send), timeout)
    finally:
        if timer is not None:
            timer.cancel()
    return exchange
