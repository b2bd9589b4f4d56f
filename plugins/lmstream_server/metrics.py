"""Prometheus metrics of one server: requests in flight, queue depth, batch size, responses,
speculative decoding's draft tokens.

Each app has its own ``CollectorRegistry`` (several apps can live in one process), which also
carries the prometheus observer's generation metrics (TTFT, inter-token latency, tokens) and,
per served model, its prefix cache's counters (read from ``context.prefix_cache`` at scrape).
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

from lmstream import GenerationRecord, Info, ModelContext, Observer

_PREFIX_COUNTERS = (
    ("lookups", "Generations that looked for a cached prompt prefix."),
    ("hits", "Lookups that reused at least one cached token."),
    ("hit_tokens", "Prompt tokens served from the prefix cache (not prefilled)."),
    ("miss_tokens", "Prompt tokens the prefix cache did not hold (prefilled)."),
    ("evictions", "Prefix-cache entries dropped to stay within the byte budget."),
)
_PREFIX_GAUGES = (
    ("bytes", "Bytes the prefix cache's entries hold (the backend's nbytes)."),
    ("capacity_bytes", "The prefix cache's byte budget (0: off)."),
    ("entries", "Entries in the prefix cache."),
)


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
        self.drafts = DraftCounters(self.registry)

    @property
    def observers(self) -> list[Observer]:
        """The observers every in-process generation of this server runs with."""
        return [self.observer, self.drafts]

    def watch_prefix_caches(self, contexts: Mapping[str, object]) -> None:
        """Report the prefix caches of these served contexts (by model name) at each scrape."""
        local = {name: c for name, c in contexts.items() if isinstance(c, ModelContext)}
        self.registry.register(_PrefixCacheCollector(local))  # type: ignore[arg-type]

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


class DraftCounters(Observer):
    """Speculative decoding's draft tokens, proposed and accepted, from each generation's final
    ``Info.stats`` (``lmstream_draft_tokens_proposed_total`` / ``_accepted_total``, by model and
    backend; both stay 0 for a context loaded without a drafter). Accepted over proposed is the
    acceptance rate."""

    def __init__(self, registry: Any) -> None:
        import prometheus_client as client

        common: dict[str, Any] = {"namespace": "lmstream", "registry": registry}
        self.proposed = client.Counter("draft_tokens_proposed", "Draft tokens proposed and verified.",
                                       ["model", "backend"], **common)
        self.accepted = client.Counter("draft_tokens_accepted", "Proposed draft tokens the model accepted.",
                                       ["model", "backend"], **common)

    def on_end(self, generation: GenerationRecord, info: Info) -> None:
        """Add this generation's draft figures."""
        labels = (generation.model.name, generation.model.backend)
        self.proposed.labels(*labels).inc(info.stats.draft_tokens_proposed)
        self.accepted.labels(*labels).inc(info.stats.draft_tokens_accepted)


class _PrefixCacheCollector:
    """Reads each context's ``prefix_cache.stats()`` when /metrics is scraped."""

    def __init__(self, contexts: Mapping[str, ModelContext]) -> None:
        self._contexts = dict(contexts)

    def describe(self) -> list[Any]:
        """Nothing up front: the series are made at collection time."""
        return []

    def collect(self) -> Iterator[Any]:
        """One counter or gauge family per figure, labelled by model."""
        from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily

        stats = {name: context.prefix_cache.stats() for name, context in self._contexts.items()}
        for field, text in _PREFIX_COUNTERS:
            counter = CounterMetricFamily(f"lmstream_server_prefix_cache_{field}", text, labels=["model"])
            for name, figures in stats.items():
                counter.add_metric([name], float(getattr(figures, field)))
            yield counter
        for field, text in _PREFIX_GAUGES:
            gauge = GaugeMetricFamily(f"lmstream_server_prefix_cache_{field}", text, labels=["model"])
            for name, figures in stats.items():
                gauge.add_metric([name], float(getattr(figures, field)))
            yield gauge
