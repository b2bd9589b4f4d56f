"""Request plumbing shared by every route: bounded JSON bodies, API keys, error responses.

Bodies are parsed off the event loop when they are large (``state.work``: a 4 MiB body takes
tens of milliseconds to parse, every other stream would stall meanwhile) and their nesting
depth is bounded before parsing: a body nested thousands of levels deep is a 400 naming the
body, never a RecursionError deep inside the server.
"""

from __future__ import annotations

import json
import re
import secrets
import sys
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from .errors import APIError
from .jsonparse import TooDeep, loads_bytes
from .state import ServerState

INLINE_PARSE_BYTES = 64 * 1024
"""Bodies up to this size are parsed on the loop (well under a millisecond); larger ones in the pool."""
COOPERATIVE_VALUES = 50_000
"""Bodies with more values than this (counted by their ``,[{``) are parsed by ``cooperative_loads``:
``json.loads`` would hold the GIL for the whole document, stalling every other thread."""
DEFAULT_MAX_DEPTH = 512
"""Nesting bound of a JSON body when no server limits are given (``ServerLimits.max_json_depth``)."""
_STRING = re.compile(rb'"[^"\\]*(?:\\.[^"\\]*)*"', re.DOTALL)
_BRACKETS = bytes.maketrans(b"{}", b"[]")
_NOT_BRACKETS = bytes(c for c in range(256) if c not in b"[]{}")


def json_depth_exceeds(body: bytes, limit: int) -> bool:
    """Whether the JSON text ``body`` nests arrays/objects more than ``limit`` levels (strings skipped).

    C-speed passes only: strings are cut out by one regex, the brackets kept, and each
    ``replace("[]", "")`` pass removes exactly one level (the innermost pairs), so at most
    ``limit`` passes decide it, however the text is shaped.
    """
    if body.count(b"[") + body.count(b"{") <= limit:
        return False
    skeleton = _STRING.sub(b"", body).translate(_BRACKETS, _NOT_BRACKETS)
    for _ in range(limit):
        if not skeleton:
            return False
        shorter = skeleton.replace(b"[]", b"")
        if len(shorter) == len(skeleton):
            return False  # unbalanced text: json.loads reports it
        skeleton = shorter
    return b"[]" in skeleton


def parse_json_body(body: bytes, max_depth: int) -> dict[str, Any]:
    """The body as a JSON object; a 400 naming the body for invalid, too deep or non-object JSON.

    A body with many values is parsed by ``cooperative_loads`` (which also bounds the depth as
    it goes); others by ``json.loads`` after ``json_depth_exceeds``.
    """
    too_deep = APIError(400, f"the request body nests JSON more than {max_depth} levels deep",
                        param="body", code="invalid_json")
    try:
        if body.count(b",") + body.count(b"[") + body.count(b"{") > COOPERATIVE_VALUES:
            value = loads_bytes(body, max_depth)
        elif json_depth_exceeds(body, max_depth):
            raise too_deep
        else:
            value = json.loads(body)
    except (RecursionError, TooDeep):
        raise too_deep from None
    except (ValueError, UnicodeDecodeError) as exc:
        why = str(exc)
        if "integer string conversion" in why:  # Python's digit limit, with advice for its own users
            why = f"an integer has more than {sys.get_int_max_str_digits()} digits"
        raise APIError(400, f"the request body is not valid JSON: {why}", param="body",
                       code="invalid_json") from None
    if not isinstance(value, dict):
        raise APIError(400, "the request body must be a JSON object", param="body", code="invalid_json")
    return value


async def read_body(request: Request, limit: int) -> bytes:
    """The raw body; 413 past ``limit`` bytes (checked from Content-Length and while reading)."""
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
        raise APIError(400, "the request body is empty; send a JSON object", param="body", code="invalid_json")
    return bytes(body)


async def read_json(request: Request, limit: int | ServerState) -> dict[str, Any]:
    """The request body as a JSON object (413 past the body limit, 400 when invalid or too deep).

    ``limit``: the server's state (large bodies parse in its work pool, depth bounded by its
    limits), or a plain byte limit (then parsed here, default depth bound).
    """
    if isinstance(limit, ServerState):
        state: ServerState | None = limit
        max_bytes, max_depth = limit.limits.max_body_bytes, limit.limits.max_json_depth
    else:
        state, max_bytes, max_depth = None, limit, DEFAULT_MAX_DEPTH
    body = await read_body(request, max_bytes)
    if state is None or len(body) <= INLINE_PARSE_BYTES:
        return parse_json_body(body, max_depth)
    return await state.work.run(parse_json_body, body, max_depth)


def check_key(request: Request, state: ServerState, *, anthropic: bool = False) -> None:
    """401 unless the request carries the server's key (Bearer; or x-api-key on Anthropic routes)."""
    if not state.api_key:
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
