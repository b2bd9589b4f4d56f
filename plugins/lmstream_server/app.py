"""``create_app``: the ASGI application (Starlette) serving OpenAI and Anthropic routes.

Starlette is used directly (not FastAPI): request bodies are validated by our own pydantic
models so that errors come out in the OpenAI / Anthropic shapes, and streaming uses our own
SSE response; FastAPI would add a dependency and a second error format to override.
"""

from __future__ import annotations

import asyncio
import logging
import secrets
from collections.abc import Awaitable, Callable, Mapping, Sequence
from typing import Any

from starlette.applications import Starlette
from starlette.requests import ClientDisconnect, Request
from starlette.responses import JSONResponse, PlainTextResponse, Response
from starlette.routing import Route

from lmstream import ModelContext

from . import chat, completions, messages, misc, responses
from .accesslog import AccessLog, RequestNote, note_of
from .errors import APIError
from .guard import LocalGuard
from .httpio import check_key, error_response, read_json
from .source import GenerationSource
from .sse import EventSourceResponse, settle
from .state import ServerLimits, ServerState

logger = logging.getLogger("lmstream.server")

Handler = Callable[[ServerState, dict[str, Any]], Awaitable[Any]]


_CLOSING: set[asyncio.Task[None]] = set()
"""Cleanups of responses never sent, kept referenced until they finish."""


def _close_if_response(task: asyncio.Future[Any]) -> None:
    """A handler that still returned a stream after its request was abandoned: close that stream."""
    if task.cancelled() or task.exception() is not None:
        return
    result = task.result()
    if isinstance(result, EventSourceResponse):
        closing = asyncio.ensure_future(result.close_unsent())
        _CLOSING.add(closing)
        closing.add_done_callback(_CLOSING.discard)


async def _watch_disconnect(request: Request) -> None:
    while True:
        message = await request.receive()
        if message.get("type") == "http.disconnect":
            return


async def _until_disconnect(request: Request, work: Awaitable[Any]) -> Any:
    """Run ``work``; if the client leaves first, cancel it (a non-streamed generation stops too).

    However this ends (the client left, the request task itself was cancelled at any await),
    ``work`` is cancelled and a stream it returns anyway is closed, so its slots come back.
    """
    task = asyncio.ensure_future(work)
    watcher = asyncio.ensure_future(_watch_disconnect(request))
    try:
        done, _ = await asyncio.wait({task, watcher}, return_when=asyncio.FIRST_COMPLETED)
    except BaseException:
        watcher.cancel()
        task.cancel()
        task.add_done_callback(_close_if_response)
        raise
    cancelled = await settle([watcher])
    if task not in done:
        cancelled |= await settle([task])
        if task.done():
            _close_if_response(task)
        else:
            task.add_done_callback(_close_if_response)
        if cancelled:
            raise asyncio.CancelledError()
        raise ClientGone()
    if cancelled:
        _close_if_response(task)
        raise asyncio.CancelledError()
    return task.result()


class ClientGone(Exception):
    """The client left before the answer was ready (its generation was cancelled)."""


class NoResponse(Response):
    """Nothing to send: the client is gone (a write would only fail)."""

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        return None


class _Logged:
    """Sends a stream, then notes its tail for the access log (its usage, when the API sent one)."""

    def __init__(self, response: EventSourceResponse, note: RequestNote) -> None:
        self.response = response
        self.note = note

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        try:
            await self.response(scope, receive, send)
        finally:
            self.note.stream_tail = self.response.tail


ADMITTED_ROUTES = frozenset({"/tokenize", "/detokenize", "/v1/messages/count_tokens"})
"""Routes doing request-sized CPU work with no generation slot: they take a turn of the work pool."""


def _post(state: ServerState, route: str, handler: Handler, *, anthropic: bool = False) -> Callable[[Request], Awaitable[Response]]:
    async def endpoint(request: Request) -> Response:
        status = 200
        note = note_of(request.scope)
        try:
            check_key(request, state, anthropic=anthropic)
            body = await read_json(request, state)
            if route in ADMITTED_ROUTES:
                async with state.work.admitted():
                    result = await _until_disconnect(request, handler(state, body))
            else:
                result = await _until_disconnect(request, handler(state, body))
            if isinstance(result, EventSourceResponse):
                if result.write_timeout_s is None:
                    result.write_timeout_s = state.limits.write_timeout_s
                return (_Logged(result, note) if note is not None else result)  # type: ignore[return-value]
            if isinstance(result, Response):  # e.g. a JSON answer carrying its own headers
                return result
            if note is not None and isinstance(result, dict):
                note.tokens_from_usage(result.get("usage"))
            return JSONResponse(result)
        except APIError as error:
            status = error.status
            return error_response(error, anthropic=anthropic)
        except ClientGone:
            status = 499  # nginx's "client closed request", for the metrics only
            return NoResponse()
        except ClientDisconnect:
            status = 499  # gone while sending its body
            return NoResponse()
        except Exception:
            incident = secrets.token_hex(6)
            logger.exception("%s failed (incident %s)", route, incident)
            status = 500
            return error_response(APIError(500, f"internal server error (incident {incident}; the server log "
                                                "has the details)", code="internal_error"), anthropic=anthropic)
        finally:
            state.metrics.count(route, status)
    return endpoint


def create_app(contexts: ModelContext | Mapping[str, ModelContext], *, api_key: str | None = None,
               max_batch_size: int = 8, max_queue: int = 64, max_body_bytes: int = 4 * 1024 * 1024,
               max_n: int = 8, keepalive_s: float = 10.0, cors_origins: list[str] | None = None,
               default_max_tokens: int = 512, sources: Mapping[str, GenerationSource] | None = None,
               write_timeout_s: float = 30.0, max_json_depth: int = 512,
               allowed_hosts: Sequence[str] | None = None, check_origin: bool = True,
               require_json: bool = True) -> Starlette:
    """The ASGI app serving ``contexts`` (one context, or served name -> context).

    ``api_key``: required as ``Authorization: Bearer`` (or ``x-api-key`` on /v1/messages); None
    or ``""``: no key. ``max_batch_size`` + ``max_queue`` bound the generations in flight (then
    503 + Retry-After); ``max_body_bytes`` bounds request bodies (413) and ``max_json_depth``
    their nesting (400); ``cors_origins`` enables CORS for them only; ``default_max_tokens``
    applies when a chat or responses request gives no limit; ``write_timeout_s``: a streaming
    client that accepts no bytes for that long is gone; ``sources``: served name -> where its
    generations run (default: in process; see source.py).

    Local-server safety (docs/security.md): ``allowed_hosts`` not None turns on the Host check
    (loopback names plus these; ``lmstream serve`` does so when bound to loopback);
    ``check_origin``: a request with a browser ``Origin`` not in ``cors_origins`` gets 403;
    ``require_json``: a POST that is not ``application/json`` gets 415.
    """
    if isinstance(contexts, ModelContext):
        contexts = {contexts.info.name: contexts}
    limits = ServerLimits(max_batch_size=max_batch_size, max_queue=max_queue, max_body_bytes=max_body_bytes,
                          max_n=max_n, keepalive_s=keepalive_s, max_tokens_default=default_max_tokens,
                          write_timeout_s=write_timeout_s, max_json_depth=max_json_depth)
    state = ServerState(contexts, limits, api_key or None, sources)

    async def list_models(request: Request) -> Response:
        try:
            check_key(request, state)
        except APIError as error:
            return error_response(error)
        return JSONResponse(misc.models(state))

    async def get_model(request: Request) -> Response:  # openai-node / @anthropic-ai/sdk models.retrieve
        try:
            check_key(request, state)
            return JSONResponse(misc.model(state, request.path_params["name"]))
        except APIError as error:
            return error_response(error, anthropic="anthropic-version" in request.headers)

    async def stored_response(request: Request) -> Response:  # openai responses.retrieve / delete
        try:
            check_key(request, state)
            response_id = request.path_params["response_id"]
            if request.method == "DELETE":
                return JSONResponse(responses.delete_stored(state, response_id))
            return JSONResponse(responses.stored_response(state, response_id))
        except APIError as error:
            return error_response(error)

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
        Route("/v1/models/{name:path}", get_model, methods=["GET"]),
        Route("/v1/chat/completions", _post(state, "/v1/chat/completions", chat.chat_completions), methods=["POST"]),
        Route("/v1/completions", _post(state, "/v1/completions", completions.completions), methods=["POST"]),
        Route("/v1/responses", _post(state, "/v1/responses", responses.responses), methods=["POST"]),
        Route("/v1/responses/{response_id}", stored_response, methods=["GET", "DELETE"]),
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

    from starlette.middleware import Middleware

    middleware = [Middleware(AccessLog),
                  Middleware(LocalGuard, allowed_hosts=allowed_hosts, allowed_origins=list(cors_origins or ()),
                             check_origin=check_origin, require_json=require_json)]
    if cors_origins:
        from starlette.middleware.cors import CORSMiddleware

        middleware.append(Middleware(CORSMiddleware, allow_origins=list(cors_origins), allow_methods=["GET", "POST"],
                                     allow_headers=["authorization", "content-type", "x-api-key",
                                                    "anthropic-version"]))
    app = Starlette(routes=routes, middleware=middleware, exception_handlers={404: not_found, 405: not_found})
    app.state.lmstream = state
    return app
