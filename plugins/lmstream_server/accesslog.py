"""One access-log line per request: method, route, status, tokens, duration.

A pure ASGI middleware on the outside of the app: it sees the status the client got and the
time until the response ended (a stream's whole length). Routes note the generated tokens in
the request's ``RequestNote`` (``scope["lmstream.note"]``); a stream's count comes from the usage
its last events carry. Logged on ``lmstream.server.access`` at INFO, so ``--log-level warning``
silences it.
"""

from __future__ import annotations

import logging
import re
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Any

logger = logging.getLogger("lmstream.server.access")

Scope = dict[str, Any]
_USAGE = re.compile(rb'"(?:completion_tokens|output_tokens)":\s*(\d+)')
NOTE_KEY = "lmstream.note"


@dataclass
class RequestNote:
    """What a route tells the access log about its request."""

    tokens: int | None = None
    """Generated tokens (None: not a generation, or not known)."""
    stream_tail: bytes = b""
    """The last bytes of a stream (its usage, when the API sends one)."""

    def tokens_from_usage(self, usage: Any) -> None:
        """Take ``completion_tokens`` / ``output_tokens`` from an API's usage object."""
        if isinstance(usage, dict):
            for key in ("completion_tokens", "output_tokens"):
                value = usage.get(key)
                if isinstance(value, int):
                    self.tokens = value
                    return

    def generated(self) -> int | None:
        """Tokens generated: noted, or read from the stream's last usage."""
        if self.tokens is None and self.stream_tail:
            found = _USAGE.findall(self.stream_tail)
            if found:
                return int(found[-1])
        return self.tokens


def note_of(scope: Mapping[str, Any]) -> RequestNote | None:
    """The request's note, if the access log is on."""
    note = scope.get(NOTE_KEY)
    return note if isinstance(note, RequestNote) else None


class AccessLog:
    """ASGI middleware writing ``METHOD /route STATUS tokens=N 1.234s`` when a response ends."""

    def __init__(self, app: Callable[..., Awaitable[None]]) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Callable[[], Awaitable[Any]],
                       send: Callable[[dict[str, Any]], Awaitable[None]]) -> None:
        if scope.get("type") != "http" or not logger.isEnabledFor(logging.INFO):
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        note = RequestNote()
        scope[NOTE_KEY] = note
        status = 0

        async def logged_send(message: dict[str, Any]) -> None:
            nonlocal status
            if message.get("type") == "http.response.start":
                status = int(message.get("status", 0))
            await send(message)

        try:
            await self.app(scope, receive, logged_send)
        except Exception:
            status = status or 500
            raise
        finally:
            tokens = note.generated()
            client = scope.get("client") or ("-", 0)
            logger.info("%s %s %s %s tokens=%s %.3fs", client[0], scope.get("method", "-"),
                        scope.get("path", "-"), status or 499, "-" if tokens is None else tokens,
                        time.perf_counter() - started)
