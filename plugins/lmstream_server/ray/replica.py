"""``LMReplica``: one Ray Serve replica owning a ModelContext and streaming lmstream events.

``generate`` is an async generator (called through a streaming DeploymentHandle): it first
yields an ``Opened`` (which replica, or the error that kept the generation from starting), then
the generation's own events, ending with ``Info``, in tuples: the events ready at the same
moment travel as one Ray item (at most ``MAX_BATCH``), which divides the per-item cost of the
hop when the model is faster than the hop. When the caller cancels (client gone), Ray cancels
this generator and the local stream is cancelled at the next token boundary.
"""

from __future__ import annotations

import asyncio
import importlib
import logging
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

import lmstream
from lmstream import Event, EventStream, GenerationParameters, LMInput

logger = logging.getLogger("lmstream.server.ray")

MAX_BATCH = 64
"""Events sent as one Ray item at most."""


@dataclass(frozen=True)
class RoutedRequest:
    """One generation request as it crosses to a replica: a prepared input, its parameters and
    the prefix keys the router uses (see prefix.py), and the digest of the client's
    ``prompt_cache_key`` when it sent one (the router's first choice of key)."""

    lm_input: LMInput
    params: GenerationParameters
    prefix_keys: tuple[str, ...] = ()
    cache_key: str | None = None


@dataclass(frozen=True)
class Opened:
    """The first item of every replica stream: who serves it, or why it could not start."""

    replica: str
    actor_name: str | None = None
    error: BaseException | None = None


@dataclass
class LoadSpec:
    """How a replica loads its model: ``lmstream.load(model, backend, **options)``; ``plugins``
    are ``"module:attribute"`` plugin objects registered first (entry points load anyway)."""

    model: str | None = None
    backend: str | None = None
    options: dict[str, Any] = field(default_factory=dict)
    plugins: list[str] = field(default_factory=list)


def _register(path: str) -> None:
    """Register the plugin object at ``module:attribute`` in this process."""
    module, _, attribute = path.partition(":")
    if not module or not attribute:
        raise ValueError(f"plugin {path!r} must be 'module:attribute'")
    plugin = getattr(importlib.import_module(module), attribute)
    lmstream.register_plugin(plugin() if isinstance(plugin, type) else plugin, name=path)


class LMReplica:
    """A replica: loads the model once, then serves any number of concurrent generations."""

    def __init__(self, spec: LoadSpec) -> None:
        for path in spec.plugins:
            _register(path)
        self.context = lmstream.load(spec.model, spec.backend, **spec.options)
        self.name, self.actor_name = _identity()
        logger.info("replica %s serves %s", self.name, self.context.info.name)

    async def generate(self, request: RoutedRequest) -> AsyncIterator[Any]:
        """Stream ``Opened`` then the generation's events (cancelled with the caller)."""
        context = self.context

        def create() -> EventStream[Event]:
            return lmstream.generate(request.lm_input, parameters=request.params, context=context)

        try:
            stream = await asyncio.to_thread(create)
        except Exception as exc:
            yield Opened(self.name, self.actor_name, error=exc)
            return
        yield Opened(self.name, self.actor_name)
        # unbounded: a generation's events are bounded by its max_tokens; None marks the end
        queue: asyncio.Queue[Event | None] = asyncio.Queue()

        async def pump() -> None:
            try:
                async for event in stream:
                    queue.put_nowait(event)
            finally:
                queue.put_nowait(None)

        task = asyncio.ensure_future(pump())
        try:
            done = False
            while not done:
                batch = [await queue.get()]
                while not queue.empty() and len(batch) < MAX_BATCH:
                    batch.append(queue.get_nowait())
                done = batch[-1] is None
                events = tuple(event for event in batch if event is not None)
                if events:
                    yield events
        finally:
            stream.cancel()
            task.cancel()

    def __del__(self) -> None:
        context = getattr(self, "context", None)
        if context is not None:
            context.close()


def _identity() -> tuple[str, str | None]:
    """This replica's id and actor name (for labels, and for killing it in tests)."""
    try:
        import ray
        from ray import serve

        replica_id = serve.get_replica_context().replica_id
        return replica_id.unique_id, ray.get_runtime_context().get_actor_name()
    except Exception:  # not inside Ray Serve (unit use)
        return "local", None
