"""How OpenAI chat / completions streams end, whatever happens: the error event, then ``[DONE]``.

A client of these APIs reads until ``data: [DONE]``; a stream that just stops leaves it unable
to tell a truncated answer from a finished one. So every way a stream can end after it
started (a failed generation, an exception while building a chunk, the server cutting it at
the drain deadline) sends an error event in the API's shape and then ``data: [DONE]``.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator

from .errors import APIError
from .sse import sse_data

logger = logging.getLogger("lmstream.server")

DONE = b"data: [DONE]\n\n"


def error_event(message: str, code: str = "generation_failed", status: int = 500) -> bytes:
    """An OpenAI error as a stream event (``data: {"error": {...}}``)."""
    return sse_data(APIError(status, message, code=code).openai_body())


def closing_events(message: str) -> bytes:
    """What a stream the server cuts (drain deadline) ends with: an error event, then ``[DONE]``."""
    return error_event(message, code="server_shutting_down", status=503) + DONE


async def guarded(body: AsyncIterator[bytes]) -> AsyncIterator[bytes]:
    """``body``, but an exception inside it ends the stream with an error event and ``[DONE]``
    (never a stream that stops mid-way with no terminal event)."""
    try:
        async for piece in body:
            yield piece
    except Exception as exc:
        logger.exception("a stream failed after it started")
        yield error_event(f"the stream failed: {type(exc).__name__}: {exc}", code="internal_error")
        yield DONE
    finally:
        close = getattr(body, "aclose", None)
        if close is not None:
            await close()
