"""``create_app``: the ASGI application (Starlette) serving OpenAI and Anthropic routes.

Starlette is used directly (not FastAPI): request bodies are validated by our own pydantic
models so that errors come out in the OpenAI / Anthropic shapes, and streaming uses our own
SSE response; FastAPI would add a dependency and a second error format to override.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response
from starlette.routing import Route

from lmstream import ModelContext

from . import chat, completions, messages, misc, responses
from .errors import APIError
from .httpio import check_key, error_response, read_json
from .source import GenerationSource
from .sse import EventSourceResponse
from .state import ServerLimits, ServerState

logger = logging.getLogger("lmstream.server")

Handler = Callable[[ServerState, dict[str, Any]], Awaitable[Any]]


async def _until_disconnect(request: Request, work: Awaitable[Any]) -> Any:
    """Run ``work``; if the client leaves first, cancel it (a non-streamed generation stops too)."""
    task = asyncio.ensure_future(work)

    async def watch() -> None:
        while True:
            message = await request.receive()
            if message.get("type") == "http.disconnect":
                return

    watcher = asyncio.ensure_future(watch())
    try:
        done, _ = await asyncio.wait({task, watcher}, return_when=asyncio.FIRST_COMPLETED)
        if task not in done:
            task.cancel()
            with contextlib.suppress(BaseException):
                await task
            raise ClientGone()
        return task.result()
    finally:
        watcher.cancel()
        with contextlib.suppress(BaseException):
            await watcher


class ClientGone(Exception):
    """The client left before the answer was ready (its generation was cancelled)."""


class NoResponse(Response):
    """Nothing to send: the client is gone (a write would only fail)."""

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        return None


def _post(state: ServerState, route: str, handler: Handler, *, anthropic: bool = False) -> Callable[[Request], Awaitable[Response]]:
    async def endpoint(request: Request) -> Response:
        status = 200
        try:
            check_key(request, state, anthropic=anthropic)
            body = await read_json(request, state.limits.max_body_bytes)
            result = await _until_disconnect(request, handler(state, body))
            if isinstance(result, EventSourceResponse | Response):
                return result  # type: ignore[return-value]
            return JSONResponse(result)
        except APIError as error:
            status = error.status
            return error_response(error, anthropic=anthropic)
        except ClientGone:
            status = 499  # nginx's "client closed request", for the metrics only
            return NoResponse()
        except Exception as exc:
            logger.exception("%s failed", route)
            status = 500
            return error_response(APIError(500, f"internal error: {type(exc).__name__}: {exc}",
                                           code="internal_error"), anthropic=anthropic)
        finally:
            state.metrics.count(route, status)
    return endpoint


def create_app(contexts: ModelContext | Mapping[str, ModelContext], *, api_key: str | None = None,
               max_batch_size: int = 8, max_queue: int = 64, max_body_bytes: int = 4 * 1024 * 1024,
               max_n: int = 8, keepalive_s: float = 10.0, cors_origins: list[str] | None = None,
               default_max_tokens: int = 512, sources: Mapping[str, GenerationSource] | None = None) -> Starlette:
    """The ASGI app serving ``contexts`` (one context, or served name -> context).

    ``api_key``: required as ``Authorization: Bearer`` (or ``x-api-key`` on /v1/messages).
    ``max_batch_size`` + ``max_queue`` bound the generations in flight (then 503 + Retry-After);
    ``max_body_bytes`` bounds request bodies (413); ``cors_origins`` enables CORS for them only;
    ``default_max_tokens`` applies when a chat or responses request gives no limit;
    ``sources``: served name -> where its generations run (default: in process; see source.py).
    """
    if isinstance(contexts, ModelContext):
        contexts = {contexts.info.name: contexts}
    limits = ServerLimits(max_batch_size=max_batch_size, max_queue=max_queue, max_body_bytes=max_body_bytes,
                          max_n=max_n, keepalive_s=keepalive_s, max_tokens_default=default_max_tokens)
    state = ServerState(contexts, limits, api_key, sources)

    async def list_models(request: Request) -> Response:
        try:
            check_key(request, state)
        except APIError as error:
            return error_response(error)
        return JSONResponse(misc.models(state))

    async def health(request: Request) -> Response:
        return JSONResponse({"status": "ok", "models": sorted(state.models), "in_flight": state.in_flight})

    async def metrics(request: Request) -> Response:
        try:
            check_key(request, state)
        except APIError as error:
            return error_response(error)
        body, content_type = state.metrics.render()
        return PlainTextResponse(body, media_type=content_type)

    routes = [
        Route("/v1/models", list_models, methods=["GET"]),
        Route("/v1/chat/completions", _post(state, "/v1/chat/completions", chat.chat_completions), methods=["POST"]),
        Route("/v1/completions", _post(state, "/v1/completions", completions.completions), methods=["POST"]),
        Route("/v1/responses", _post(state, "/v1/responses", responses.responses), methods=["POST"]),
        Route("/v1/messages", _post(state, "/v1/messages", messages.messages, anthropic=True), methods=["POST"]),
        Route("/v1/messages/count_tokens", _post(state, "/v1/messages/count_tokens", messages.count_tokens,
                                                 anthropic=True), methods=["POST"]),
        Route("/tokenize", _post(state, "/tokenize", misc.tokenize), methods=["POST"]),
        Route("/detokenize", _post(state, "/detokenize", misc.detokenize), methods=["POST"]),
        Route("/health", health, methods=["GET"]),
        Route("/metrics", metrics, methods=["GET"]),
    ]

    async def not_found(request: Request, exc: Exception) -> Response:
        anthropic = request.url.path.startswith("/v1/messages")
        status = getattr(exc, "status_code", 404)
        return error_response(APIError(status, f"no route {request.method} {request.url.path}",
                                       code="not_found" if status == 404 else "method_not_allowed"),
                              anthropic=anthropic)

    middleware = []
    if cors_origins:
        from starlette.middleware import Middleware
        from starlette.middleware.cors import CORSMiddleware

        middleware.append(Middleware(CORSMiddleware, allow_origins=list(cors_origins), allow_methods=["GET", "POST"],
                                     allow_headers=["authorization", "content-type", "x-api-key",
                                                    "anthropic-version"]))
    app = Starlette(routes=routes, middleware=middleware, exception_handlers={404: not_found, 405: not_found})
    app.state.lmstream = state
    return app
