"""The one request skeleton of the four generation APIs: admit, open, stream or collect, release.

Every generation route (chat completions, completions, Responses, Messages) validates its body
on the work pool, then hands ``answer`` an ``Answer``: the API's own parts (how to open its
generations, their SSE bytes, the collected final object, the events that end a cut stream).
``answer`` holds the request's generation slots (``state.acquire``: 503 beyond the queue) from
before the first generation opens until the last byte is sent or the collected answer is
built, and gives them back exactly once on every path: an error while opening, a finished or
failed collection, and, streaming, whatever ends the SSE response (finished, client gone,
write stalled, cut at the drain deadline), where the generations are cancelled too.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping, Sequence
from typing import Any, Protocol

from starlette.responses import JSONResponse

from lmstream import Event, EventStream

from .sse import EventSourceResponse
from .state import ServerState

Streams = Sequence[EventStream[Event]]


class Answer(Protocol):
    """What one API adds to the skeleton for one request."""

    @property
    def slots(self) -> int:
        """Generations this request runs (the slots it holds)."""

    @property
    def streaming(self) -> bool:
        """Whether the answer is an SSE stream (else one collected object)."""

    @property
    def headers(self) -> Mapping[str, str]:
        """Extra response headers (either way)."""

    async def open(self) -> Streams:
        """Start the generations (an ``APIError`` here is the answer: nothing was sent yet)."""

    def events(self, streams: Streams) -> AsyncIterator[bytes]:
        """The SSE bytes of a streamed answer, its terminal events included."""

    async def collect(self, streams: Streams) -> Any:
        """The final object of a collected answer (a dict the route returns as JSON)."""

    def closing_events(self, message: str) -> bytes:
        """What ends a stream cut after it started: the API's error event and its terminal event."""


def _cancel(streams: Streams) -> None:
    for stream in streams:
        stream.cancel()


async def answer(state: ServerState, api: Answer) -> Any:
    """Admit, open, then stream or collect ``api``'s generations; slots released exactly once."""
    slot = state.acquire(api.slots)
    try:
        streams = await api.open()
    except BaseException:
        slot.release()
        raise
    if api.streaming:
        def close() -> None:
            _cancel(streams)
            slot.release()

        return EventSourceResponse(api.events(streams), keepalive_s=state.limits.keepalive_s, on_close=close,
                                   closing_events=api.closing_events, headers=api.headers)
    try:
        result = await api.collect(streams)
    finally:
        _cancel(streams)
        slot.release()
    return JSONResponse(result, headers=dict(api.headers)) if api.headers else result
