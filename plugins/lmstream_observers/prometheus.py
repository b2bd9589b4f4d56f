"""The ``prometheus`` observer: generation metrics for a prometheus_client registry.

prometheus_client is an optional extra (``pip install 'lmstream[prometheus]'``), imported only
when the observer is built. Metrics are created once per registry and shared by every
PrometheusObserver on it; all are labelled ``model`` and ``backend``.

Inter-token latency is observed per token as tokens arrive (a chunk carrying several tokens
spreads its gap over them), like vLLM's; everything else is observed when a generation ends.
"""

from __future__ import annotations

import threading
import time
import weakref
from dataclasses import dataclass
from typing import Any

from lmstream import Event, GenerationRecord, Info, Observer, Token

INSTALL_HINT = "pip install 'lmstream[prometheus]'"
TTFT_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.25, 0.5, 0.75, 1.0, 2.5, 5.0, 7.5,
                10.0, 20.0, 40.0, 80.0)
ITL_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.15, 0.2, 0.3, 0.4, 0.5,
               0.75, 1.0, 2.5)
TPS_BUCKETS = (1.0, 2.0, 5.0, 10.0, 20.0, 30.0, 50.0, 75.0, 100.0, 150.0, 200.0, 300.0, 500.0,
               1000.0, 2000.0)
LABELS = ("model", "backend")
_STATE_KEY = "lmstream_observers.prometheus"


def _prometheus_client() -> Any:
    try:
        import prometheus_client
    except ImportError as exc:
        raise ImportError(f"the prometheus observer needs prometheus_client: {INSTALL_HINT}") from exc
    return prometheus_client


@dataclass(frozen=True)
class PrometheusMetrics:
    """The collectors of one registry."""

    generations: Any
    prompt_tokens: Any
    cached_prompt_tokens: Any
    generated_tokens: Any
    ttft: Any
    inter_token_latency: Any
    decode_tps: Any


_metrics: weakref.WeakKeyDictionary[Any, dict[str, PrometheusMetrics]] = weakref.WeakKeyDictionary()
_metrics_lock = threading.Lock()


def metrics_for(registry: Any, namespace: str = "lmstream") -> PrometheusMetrics:
    """The collectors on ``registry`` (created on first use, then shared)."""
    client = _prometheus_client()
    with _metrics_lock:
        by_namespace = _metrics.setdefault(registry, {})
        found = by_namespace.get(namespace)
        if found is not None:
            return found
        common: dict[str, Any] = {"namespace": namespace, "registry": registry}
        built = PrometheusMetrics(
            generations=client.Counter("generations", "Generations by stop reason.",
                                       [*LABELS, "stop_reason"], **common),
            prompt_tokens=client.Counter("prompt_tokens", "Prompt tokens prefilled.", LABELS, **common),
            cached_prompt_tokens=client.Counter("cached_prompt_tokens",
                                                "Prompt tokens reused from a prompt cache.", LABELS, **common),
            generated_tokens=client.Counter("generated_tokens", "Tokens generated.", LABELS, **common),
            ttft=client.Histogram("time_to_first_token_seconds", "Time to first token.", LABELS,
                                  buckets=TTFT_BUCKETS, **common),
            inter_token_latency=client.Histogram("inter_token_latency_seconds",
                                                 "Time between consecutive generated tokens.", LABELS,
                                                 buckets=ITL_BUCKETS, **common),
            decode_tps=client.Histogram("decode_tokens_per_second", "Decode speed per generation.",
                                        LABELS, buckets=TPS_BUCKETS, **common),
        )
        by_namespace[namespace] = built
        return built


class PrometheusObserver(Observer):
    """Feeds generation metrics into ``registry`` (default: prometheus_client's global one)."""

    def __init__(self, registry: Any = None, *, namespace: str = "lmstream") -> None:
        client = _prometheus_client()
        self.registry = client.REGISTRY if registry is None else registry
        self.metrics = metrics_for(self.registry, namespace)

    def on_event(self, generation: GenerationRecord, event: Event | Token) -> None:
        """Observe the inter-token latency of the tokens this event carries."""
        position = getattr(event, "position", None)
        if position is None:
            return
        now = time.perf_counter()
        state = generation.extra.get(_STATE_KEY)
        generation.extra[_STATE_KEY] = (now, position)
        if state is None:
            return
        last_time, last_position = state
        tokens = position - last_position
        if tokens <= 0:
            return
        gap = (now - last_time) / tokens
        histogram = self.metrics.inter_token_latency.labels(generation.model.name, generation.model.backend)
        for _ in range(tokens):
            histogram.observe(gap)

    def on_end(self, generation: GenerationRecord, info: Info) -> None:
        """Count the generation and its tokens; observe its TTFT and decode speed."""
        generation.extra.pop(_STATE_KEY, None)
        metrics = self.metrics
        model, backend = generation.model.name, generation.model.backend
        stats = info.stats
        metrics.generations.labels(model, backend, str(info.stop_reason)).inc()
        metrics.prompt_tokens.labels(model, backend).inc(stats.prompt_tokens)
        metrics.cached_prompt_tokens.labels(model, backend).inc(stats.cached_prompt_tokens)
        metrics.generated_tokens.labels(model, backend).inc(stats.generated_tokens)
        if stats.generated_tokens > 0:
            metrics.ttft.labels(model, backend).observe(stats.ttft_s)
        if stats.decode_tps > 0:
            metrics.decode_tps.labels(model, backend).observe(stats.decode_tps)
