"""The prometheus observer, scraped in prometheus_client's text format from a fresh registry."""

from __future__ import annotations

import sys

import pytest
from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.parser import text_string_to_metric_families

from lmstream_observers import PrometheusObserver

DELAY = 0.01


def scrape(registry: CollectorRegistry) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    """Every sample of the text exposition: (name, sorted labels) -> value."""
    text = generate_latest(registry).decode()
    samples = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            samples[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return samples


LABELS = (("backend", "scripted"), ("model", "tiny"))


def test_counters_and_histograms_after_generations(scripted):
    registry = CollectorRegistry()
    observer = PrometheusObserver(registry)
    context = scripted(" ".join(f"w{i}" for i in range(10)), cut="words", token_delay=DELAY, name="tiny",
                       prefix_cache_bytes=0)  # the same prompt twice: no cross-request reuse here
    infos = [context.generate("hi", observers=[observer]).info,
             context.generate("hi", observers=[observer], max_tokens=4).info]
    list(scripted("abcdef", fail_at=2, name="tiny").generate_stream("hi", observers=[observer]))
    samples = scrape(registry)

    def value(name: str, **extra: str) -> float:
        return samples[(name, tuple(sorted((*LABELS, *extra.items()))))]

    assert value("lmstream_generations_total", stop_reason="stop") == 1
    assert value("lmstream_generations_total", stop_reason="length") == 1
    assert value("lmstream_generations_total", stop_reason="error") == 1
    assert value("lmstream_generated_tokens_total") == infos[0].generated_tokens + 4 + 2
    assert value("lmstream_prompt_tokens_total") == 3 * infos[0].prompt_tokens
    assert value("lmstream_cached_prompt_tokens_total") == 0
    assert value("lmstream_time_to_first_token_seconds_count") == 3
    assert value("lmstream_time_to_first_token_seconds_sum") >= 2 * DELAY * 0.9
    assert value("lmstream_decode_tokens_per_second_count") == 3
    # inter-token latency: one observation per token after each generation's first chunk
    itl_count = value("lmstream_inter_token_latency_seconds_count")
    assert itl_count == (infos[0].generated_tokens - 2) + (4 - 1) + (2 - 1)
    timed = (infos[0].generated_tokens - 2) + (4 - 1)
    mean_itl = value("lmstream_inter_token_latency_seconds_sum") / itl_count
    assert mean_itl <= 2 * DELAY
    assert value("lmstream_inter_token_latency_seconds_sum") >= timed * DELAY * 0.9
    assert value("lmstream_inter_token_latency_seconds_bucket", le="+Inf") == itl_count


def test_token_streams_are_observed_too(scripted):
    import lmstream

    registry = CollectorRegistry()
    context = scripted("abcd", name="tiny")
    list(lmstream.generate_tokens("hi", context=context, observers=[PrometheusObserver(registry)]))
    samples = scrape(registry)
    assert samples[("lmstream_inter_token_latency_seconds_count", LABELS)] == 3  # 4 tokens, EOS not shown
    assert samples[("lmstream_generated_tokens_total", LABELS)] == 5


def test_observers_on_one_registry_share_metrics(scripted):
    registry = CollectorRegistry()
    first, second = PrometheusObserver(registry), PrometheusObserver(registry)
    assert first.metrics is second.metrics
    context = scripted("ab", name="tiny")
    context.generate("hi", observers=[first])
    context.generate("hi", observers=[second])
    assert scrape(registry)[("lmstream_generations_total", (*LABELS, ("stop_reason", "stop")))] == 2


def test_namespace(scripted):
    registry = CollectorRegistry()
    scripted("ab", name="tiny").generate("hi", observers=[PrometheusObserver(registry, namespace="myapp")])
    assert any(name.startswith("myapp_generations_total") for name, _ in scrape(registry))


def test_missing_prometheus_client_names_the_extra(monkeypatch):
    monkeypatch.setitem(sys.modules, "prometheus_client", None)
    with pytest.raises(ImportError, match=r"pip install 'lmstream\[prometheus\]'"):
        PrometheusObserver(CollectorRegistry())
