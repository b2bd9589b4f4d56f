"""Prometheus metrics of one server: requests in flight, queue depth, batch size, responses.

Each app has its own ``CollectorRegistry`` (several apps can live in one process), which also
carries the prometheus observer's generation metrics (TTFT, inter-token latency, tokens).
"""

from __future__ import annotations

from typing import Any


class ServerMetrics:
    """The server's collectors plus a per-generation observer feeding the same registry."""

    def __init__(self) -> None:
        import prometheus_client as client

        from lmstream_observers.prometheus import PrometheusObserver

        self.client = client
        self.registry = client.CollectorRegistry()
        common: dict[str, Any] = {"namespace": "lmstream_server", "registry": self.registry}
        self.in_flight = client.Gauge("requests_in_flight", "Generation requests being served.", **common)
        self.queue_depth = client.Gauge("queue_depth", "Generations admitted beyond the batch size.", **common)
        self.batch_size = client.Gauge("batch_size", "Generations running at once (at most max_batch_size).",
                                       **common)
        self.responses = client.Counter("responses", "Responses by route and HTTP status.",
                                        ["route", "status"], **common)
        self.observer = PrometheusObserver(self.registry)

    def update(self, in_flight: int, max_batch_size: int) -> None:
        """Set the gauges from the number of generations in flight."""
        self.in_flight.set(in_flight)
        self.batch_size.set(min(in_flight, max_batch_size))
        self.queue_depth.set(max(0, in_flight - max_batch_size))

    def count(self, route: str, status: int) -> None:
        """Count one response."""
        self.responses.labels(route, str(status)).inc()

    def render(self) -> tuple[bytes, str]:
        """The exposition text and its content type."""
        return self.client.generate_latest(self.registry), self.client.CONTENT_TYPE_LATEST
