"""The seam between the HTTP app and where generations run: a "generation source".

By default the app runs generations in process on the served ``ModelContext``. A source (for
example ``lmstream_server.ray.RaySource``: replicas on a Ray cluster) takes prepared inputs and
returns a stream with the same surface the app uses: ``async for`` over lmstream events ending
with one ``Info``, and ``cancel()``.
"""

from __future__ import annotations

from typing import Any, Protocol, runtime_checkable

from lmstream import Event, EventStream, GenerationParameters, LMInput


@runtime_checkable
class GenerationSource(Protocol):
    """Runs generations for one served model somewhere else than this process."""

    def attach(self, registry: Any) -> None:
        """Register the source's metrics in the app's prometheus ``registry`` (called once)."""

    async def open(self, lm_input: LMInput, params: GenerationParameters) -> EventStream[Event]:
        """Start one generation; raise the core's errors (e.g. ContextLengthError) before any event."""
        ...
