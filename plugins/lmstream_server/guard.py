"""Local-server safety: refuse what a web page could make a user's browser send to this server.

A server on 127.0.0.1 with no API key is reachable by every page the user visits: a page can
POST a "simple" cross-site request (``Content-Type: text/plain``, no CORS preflight) and spend
the machine, and through DNS rebinding (a hostile name that resolves to 127.0.0.1) it can even
read the answers. Three checks close that (docs/security.md explains each):

- ``Host`` must be a loopback name (``localhost``, ``127.x.y.z``, ``[::1]``, any port) or one
  of the configured allowed hosts: a rebound name is refused with 403.
- ``POST`` bodies must be ``application/json`` (415 otherwise): a browser cannot send that
  cross-site without a CORS preflight, which this server answers only for allowed origins.
- A request carrying a browser ``Origin`` is served only when CORS allows that origin (403).

A pure ASGI middleware (no Starlette request objects): it runs before any body is read.
"""

from __future__ import annotations

import ipaddress
import json
from collections.abc import Awaitable, Callable, Iterable
from typing import Any

from .errors import APIError

Scope = dict[str, Any]
ASGIApp = Callable[[Scope, Callable[[], Awaitable[Any]], Callable[[dict[str, Any]], Awaitable[None]]],
                   Awaitable[None]]


def split_host(host: str) -> str:
    """The name in a ``Host`` value, lower-cased, without port or IPv6 brackets."""
    host = host.strip().lower()
    if host.startswith("["):
        end = host.find("]")
        return host[1:end] if end > 0 else host
    if host.count(":") == 1:
        host = host.split(":", 1)[0]
    return host.rstrip(".")


def is_loopback_name(name: str) -> bool:
    """``localhost`` (and ``*.localhost``), 127.0.0.0/8 and ::1."""
    if name == "localhost" or name.endswith(".localhost"):
        return True
    try:
        return ipaddress.ip_address(name).is_loopback
    except ValueError:
        return False


def is_loopback_bind(host: str) -> bool:
    """Whether ``--host`` binds a loopback address only (then the local-server checks apply)."""
    return is_loopback_name(split_host(host) if host.startswith("[") else host.strip().lower())


def is_json_media_type(value: str) -> bool:
    """``application/json``, optionally with ``charset=utf-8`` (any case); nothing else."""
    media, _, params = value.partition(";")
    if media.strip().lower() != "application/json":
        return False
    for param in params.split(";"):
        key, _, val = param.partition("=")
        if key.strip().lower() == "charset" and val.strip().strip('"').lower() not in ("utf-8", "utf8"):
            return False
    return True


class LocalGuard:
    """ASGI middleware: Host check (``allowed_hosts`` not None), JSON-only POSTs, Origin check.

    ``allowed_hosts``: extra names accepted besides loopback ones (None: no Host check, e.g.
    behind a reverse proxy). ``allowed_origins``: the CORS origins (a request with any other
    ``Origin`` gets 403 when ``check_origin``). ``require_json``: POSTs must be JSON (415).
    """

    def __init__(self, app: ASGIApp, *, allowed_hosts: Iterable[str] | None, allowed_origins: Iterable[str] = (),
                 check_origin: bool = True, require_json: bool = True) -> None:
        self.app = app
        self.allowed_hosts = None if allowed_hosts is None else {split_host(h) for h in allowed_hosts}
        self.allowed_origins = {o.rstrip("/").lower() for o in allowed_origins}
        self.check_origin = check_origin
        self.require_json = require_json

    async def __call__(self, scope: Scope, receive: Callable[[], Awaitable[Any]],
                       send: Callable[[dict[str, Any]], Awaitable[None]]) -> None:
        if scope.get("type") != "http":
            await self.app(scope, receive, send)
            return
        error = self.refusal(scope)
        if error is None:
            await self.app(scope, receive, send)
            return
        anthropic = str(scope.get("path", "")).startswith("/v1/messages")
        body = json.dumps(error.anthropic_body() if anthropic else error.openai_body()).encode()
        await send({"type": "http.response.start", "status": error.status,
                    "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]})
        await send({"type": "http.response.body", "body": body, "more_body": False})

    def refusal(self, scope: Scope) -> APIError | None:
        """Why this request is refused, or None to serve it."""
        headers: dict[bytes, bytes] = {}
        for key, value in scope.get("headers", ()):
            headers.setdefault(key.lower(), value)
        if self.allowed_hosts is not None and b"host" in headers:
            name = split_host(headers[b"host"].decode("latin-1"))
            if not is_loopback_name(name) and name not in self.allowed_hosts:
                return APIError(403, f"Host {name!r} is not served: this local server answers loopback names "
                                     "only (start it with --allowed-host NAME, or --no-host-check behind a "
                                     "reverse proxy)", param="Host", code="host_not_allowed")
        origin = headers.get(b"origin")
        if self.check_origin and origin is not None and scope.get("method") != "OPTIONS":
            value = origin.decode("latin-1").strip().rstrip("/").lower()
            if value not in self.allowed_origins:
                return APIError(403, f"requests from the web origin {value!r} are not allowed (allow it with "
                                     "--cors-origin)", param="Origin", code="origin_not_allowed")
        if self.require_json and scope.get("method") == "POST":
            content_type = headers.get(b"content-type", b"").decode("latin-1")
            if not is_json_media_type(content_type):
                shown = content_type or "none"
                return APIError(415, f"POST bodies must be sent as Content-Type: application/json (got {shown})",
                                param="Content-Type", code="unsupported_media_type")
        return None
