"""``RaySource``: the ingress side of the hop. Sends prepared requests to replicas through a
streaming DeploymentHandle and gives the app back streams of the replicas' own events.

A replica that dies mid-stream (or any failure of the hop) ends that stream with
``Info(stop_reason="error")``; ``cancel()`` cancels the Ray request, which cancels the
replica's generation at its next token boundary, and the stream ends ``cancelled``.
Per-replica metrics (``replica`` label) are kept here, where every stream passes.
"""

from __future__ import annotations

import asyncio
from collections import OrderedDict
from collections.abc import AsyncIterator
from typing import Any, cast

from lmstream import (
    Chunk,
    Event,
    EventStream,
    GenerationParameters,
    GenerationStats,
    Info,
    LMInput,
    StopReason,
)

from ..errors import APIError
from .prefix import prefix_keys, routing_cache_key
from .replica import Opened, RoutedRequest


class ReplicaMetrics:
    """Prometheus series per replica: streams, tokens, in flight, stop reasons, prefix affinity.

    ``affinity`` counts, for each request whose longest known prefix covers at least
    ``min_match`` of its blocks (as the router judges it), whether it went to the replica that
    served that prefix (``same``) or to another one (``moved``); other requests count as ``new``.
    It remembers at most ``max_keys`` prefix keys.
    """

    def __init__(self, registry: Any, max_keys: int = 200_000, min_match: float = 0.5) -> None:
        import prometheus_client as client

        common: dict[str, Any] = {"namespace": "lmstream_server", "registry": registry}
        self.streams = client.Counter("replica_generations", "Generations by replica and stop reason.",
                                      ["replica", "stop_reason"], **common)
        self.in_flight = client.Gauge("replica_in_flight", "Generations running on each replica.",
                                      ["replica"], **common)
        self.prompt_tokens = client.Counter("replica_prompt_tokens", "Prompt tokens prefilled per replica.",
                                            ["replica"], **common)
        self.cached_tokens = client.Counter("replica_cached_prompt_tokens",
                                            "Prompt tokens reused from a replica's prompt cache.",
                                            ["replica"], **common)
        self.generated = client.Counter("replica_generated_tokens", "Tokens generated per replica.",
                                        ["replica"], **common)
        self.affinity = client.Counter("replica_prefix_routing", "Requests by prefix affinity outcome "
                                       "(same: to the replica that served its prefix).",
                                       ["replica", "outcome"], **common)
        self._owners: OrderedDict[str, str] = OrderedDict()
        self._max_keys = max_keys
        self._min_match = min_match

    def routed(self, replica: str, keys: tuple[str, ...]) -> None:
        """Count where a request went compared with where its prefix was served."""
        owner = None
        for matched in range(len(keys), 0, -1):
            if matched < self._min_match * len(keys):
                break
            owner = self._owners.get(keys[matched - 1])
            if owner is not None:
                break
        outcome = "new" if owner is None else "same" if owner == replica else "moved"
        self.affinity.labels(replica, outcome).inc()
        for key in keys:
            self._owners[key] = replica
            self._owners.move_to_end(key)
        while len(self._owners) > self._max_keys:
            self._owners.popitem(last=False)

    def finished(self, replica: str, info: Info) -> None:
        """Fold a stream's final Info in."""
        self.streams.labels(replica, str(info.stop_reason)).inc()
        self.prompt_tokens.labels(replica).inc(info.stats.prompt_tokens)
        self.cached_tokens.labels(replica).inc(info.stats.cached_prompt_tokens)
        self.generated.labels(replica).inc(info.stats.generated_tokens)


class RemoteStream:
    """One generation running on a replica; iterate once with ``async for``; ``cancel()`` anytime."""

    def __init__(self, response: Any, opened: Opened, metrics: ReplicaMetrics | None) -> None:
        self._response = response
        self.replica = opened.replica
        self.actor_name = opened.actor_name
        self._metrics = metrics
        self._cancelled = False
        self._ended = False
        self.info: Info | None = None
        if metrics is not None:
            metrics.in_flight.labels(self.replica).inc()

    def __aiter__(self) -> AsyncIterator[Event]:
        return self._events()

    async def _events(self) -> AsyncIterator[Event]:
        chunks = 0
        try:
            async for batch in self._response:
                for event in batch:  # the events ready together on the replica (see replica.py)
                    if isinstance(event, Chunk):
                        chunks += 1
                    if isinstance(event, Info):
                        self._end(event)
                        yield event
                        return
                    yield event
            self._end(Info(StopReason.ERROR, error=RuntimeError(f"replica {self.replica} ended without Info")))
        except asyncio.CancelledError:
            self.cancel()
            raise
        except Exception as exc:
            if self._cancelled:
                self._end(Info(StopReason.CANCELLED, GenerationStats(generated_tokens=chunks)))
            else:
                self._end(Info(StopReason.ERROR, error=RuntimeError(
                    f"replica {self.replica} failed mid-stream: {type(exc).__name__}: {exc}")))
        finally:
            if not self._ended:
                self.cancel()
        if self.info is not None:
            yield self.info

    def _end(self, info: Info) -> None:
        if self._ended:
            return
        self._ended = True
        self.info = info
        if self._metrics is not None:
            self._metrics.in_flight.labels(self.replica).dec()
            self._metrics.finished(self.replica, info)

    def cancel(self) -> None:
        """Cancel the generation on its replica (idempotent; a finished stream is left alone)."""
        if self._ended or self._cancelled:
            return
        self._cancelled = True
        self._response.cancel()

    def close(self) -> None:
        """Cancel unless finished."""
        self.cancel()

    def __del__(self) -> None:
        if not getattr(self, "_ended", True):
            self.cancel()
            self._end(Info(StopReason.CANCELLED))


class RaySource:
    """A GenerationSource over a DeploymentHandle to ``LMReplica`` replicas."""

    def __init__(self, handle: Any, *, open_timeout_s: float = 120.0) -> None:
        self._handle = handle.options(stream=True)
        self._open_timeout_s = open_timeout_s
        self.metrics: ReplicaMetrics | None = None

    def attach(self, registry: Any) -> None:
        """Register the per-replica series in the app's registry."""
        self.metrics = ReplicaMetrics(registry)

    async def open(self, lm_input: LMInput, params: GenerationParameters) -> EventStream[Event]:
        """Route the request to a replica and wait until its generation started there."""
        keys = prefix_keys(lm_input.tokens)
        cache_key = routing_cache_key(lm_input.metadata)
        response = self._handle.generate.remote(RoutedRequest(lm_input, params, keys, cache_key))
        try:
            opened = await asyncio.wait_for(response.__anext__(), self._open_timeout_s)
        except asyncio.CancelledError:
            response.cancel()
            raise
        except TimeoutError:
            response.cancel()
            raise APIError(503, f"no replica started the generation within {self._open_timeout_s:g} s",
                           code="replica_unavailable", type="server_error",
                           headers={"Retry-After": "1"}) from None
        except Exception as exc:
            raise APIError(503, f"the replica failed before generating: {type(exc).__name__}: {exc}",
                           code="replica_unavailable", type="server_error",
                           headers={"Retry-After": "1"}) from None
        if not isinstance(opened, Opened):
            response.cancel()
            raise RuntimeError(f"replica stream began with {type(opened).__name__}, not Opened")
        if opened.error is not None:
            raise opened.error
        if self.metrics is not None:
            self.metrics.routed(opened.replica, keys)
        return cast("EventStream[Event]", RemoteStream(response, opened, self.metrics))
