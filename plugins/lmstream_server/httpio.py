"""Request plumbing shared by every route: bounded JSON bodies, API keys, error responses."""

from __future__ import annotations

import json
import secrets
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from .errors import APIError
from .state import ServerState


async def read_json(request: Request, limit: int) -> dict[str, Any]:
    """The request body as a JSON object; 413 past ``limit`` bytes (checked while reading)."""
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > limit:
        raise APIError(413, f"request body of {declared} bytes is over the limit of {limit} bytes",
                       code="request_too_large")
    body = bytearray()
    async for piece in request.stream():
        body += piece
        if len(body) > limit:
            raise APIError(413, f"request body is over the limit of {limit} bytes", code="request_too_large")
    if not body:
        raise APIError(400, "the request body is empty; send a JSON object", code="invalid_json")
    try:
        value = json.loads(body)
    except (ValueError, UnicodeDecodeError) as exc:
        raise APIError(400, f"the request body is not valid JSON: {exc}", code="invalid_json") from None
    if not isinstance(value, dict):
        raise APIError(400, "the request body must be a JSON object", code="invalid_json")
    return value


def check_key(request: Request, state: ServerState, *, anthropic: bool = False) -> None:
    """401 unless the request carries the server's key (Bearer; or x-api-key on Anthropic routes)."""
    if state.api_key is None:
        return
    given: str | None = None
    header = request.headers.get("authorization", "")
    if header[:7].lower() == "bearer ":
        given = header[7:].strip()
    if given is None and anthropic:
        given = request.headers.get("x-api-key")
    if given is None:
        where = "an Authorization: Bearer header" + (" or an x-api-key header" if anthropic else "")
        raise APIError(401, f"missing API key: send {where}", code="missing_api_key")
    if not secrets.compare_digest(given.encode(), state.api_key.encode()):
        raise APIError(401, "invalid API key", code="invalid_api_key")


def error_response(error: APIError, *, anthropic: bool = False) -> Response:
    """The JSON error response, OpenAI- or Anthropic-shaped."""
    body = error.anthropic_body() if anthropic else error.openai_body()
    return JSONResponse(body, status_code=error.status, headers=error.headers)
