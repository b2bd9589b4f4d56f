"""Connection hygiene for ``lmstream serve``: timeouts uvicorn does not have, and its config.

uvicorn closes idle keep-alive connections (``timeout_keep_alive``) and can cap concurrency
(``limit_concurrency``), but a connection that sends its headers or its body slowly, or a
client that stops reading a response, stays open for ever: 200 such connections hold 200
sockets and tasks. ``guarded_protocol`` subclasses uvicorn's HTTP protocol (httptools or h11,
whichever uvicorn picked) with one watchdog timer per connection that closes it when

- its request headers take longer than ``header_s`` (counted from the connection's start or
  the end of its previous response: partial headers do not reset it),
- its request body takes longer than ``body_s`` after the headers,
- its writes stay paused (the client reads nothing) for longer than ``write_s``.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass
from typing import Any

logger = logging.getLogger("lmstream.server")


@dataclass(frozen=True)
class ConnectionLimits:
    """Per-connection timeouts and the connection cap of ``lmstream serve`` (seconds; counts)."""

    header_s: float = 10.0
    body_s: float = 30.0
    write_s: float = 30.0
    keep_alive_s: float = 5.0
    max_connections: int = 512

    def __post_init__(self) -> None:
        for name in ("header_s", "body_s", "write_s", "keep_alive_s"):
            if getattr(self, name) <= 0:
                raise ValueError(f"{name} must be positive")
        if self.max_connections < 1:
            raise ValueError("max_connections must be at least 1")

    @property
    def tick_s(self) -> float:
        """How often a connection's watchdog looks (a quarter of the shortest timeout, at most 1 s)."""
        return min(1.0, self.header_s / 4, self.body_s / 4, self.write_s / 4)


def _phase(protocol: Any) -> str:
    """``headers`` (waiting for a request), ``body`` (reading one), ``app`` (answering) of a connection."""
    cycle = getattr(protocol, "cycle", None)
    if cycle is None or getattr(cycle, "response_complete", False):
        return "headers"
    if getattr(cycle, "more_body", False) and not getattr(cycle, "disconnected", False):
        return "body"
    return "app"


def guarded_protocol(base: type[asyncio.Protocol], limits: ConnectionLimits) -> type[asyncio.Protocol]:
    """``base`` (a uvicorn HTTP protocol class) with the header, body and write timeouts of ``limits``."""

    class GuardedProtocol(base):  # type: ignore[valid-type, misc]
        """uvicorn's protocol plus a watchdog closing slow or stalled connections."""

        def connection_made(self, transport: asyncio.BaseTransport) -> None:
            super().connection_made(transport)
            loop = asyncio.get_running_loop()
            self._lm_loop = loop
            self._lm_state: tuple[str, int] = ("headers", 0)
            self._lm_since = loop.time()
            self._lm_paused_since: float | None = None
            self._lm_timer: asyncio.TimerHandle | None = loop.call_later(limits.tick_s, self._lm_check)

        def connection_lost(self, exc: Exception | None) -> None:
            if self._lm_timer is not None:
                self._lm_timer.cancel()
                self._lm_timer = None
            super().connection_lost(exc)

        def _lm_check(self) -> None:
            self._lm_timer = None
            transport = getattr(self, "transport", None)
            if transport is None or transport.is_closing():
                return
            now = self._lm_loop.time()
            state = (_phase(self), id(getattr(self, "cycle", None)))
            if state != self._lm_state:
                self._lm_state, self._lm_since = state, now
            limit = {"headers": limits.header_s, "body": limits.body_s}.get(state[0])
            if limit is not None and now - self._lm_since > limit:
                logger.info("closing a connection: its request %s took over %.0fs", state[0], limit)
                transport.abort()
                return
            flow = getattr(self, "flow", None)
            if flow is not None and getattr(flow, "write_paused", False):
                if self._lm_paused_since is None:
                    self._lm_paused_since = now
                elif now - self._lm_paused_since > limits.write_s:
                    logger.info("closing a connection: the client read nothing for %.0fs", limits.write_s)
                    transport.abort()
                    return
            else:
                self._lm_paused_since = None
            self._lm_timer = self._lm_loop.call_later(limits.tick_s, self._lm_check)

    GuardedProtocol.__name__ = GuardedProtocol.__qualname__ = f"Guarded{base.__name__}"
    return GuardedProtocol


def server_config(app: Any, *, host: str, port: int, log_level: str, drain_timeout_s: float,
                  limits: ConnectionLimits, protocol: type[asyncio.Protocol] | None = None, **extra: Any) -> Any:
    """The ``uvicorn.Config`` of ``lmstream serve``: guarded protocol, connection cap, keep-alive, drain.

    ``protocol``: the uvicorn HTTP protocol class to guard (default: the one uvicorn picks,
    httptools when installed, else h11).
    """
    import uvicorn
    from uvicorn.protocols.http.auto import AutoHTTPProtocol

    return uvicorn.Config(app, host=host, port=port, log_level=log_level, server_header=False, access_log=False,
                          http=guarded_protocol(protocol or AutoHTTPProtocol, limits),
                          limit_concurrency=limits.max_connections,
                          timeout_keep_alive=max(1, round(limits.keep_alive_s)),
                          timeout_graceful_shutdown=max(0, round(drain_timeout_s)), **extra)
