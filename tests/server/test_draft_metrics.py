"""/metrics counts speculative decoding's draft tokens from each generation's final stats."""

from __future__ import annotations

import dataclasses
from types import SimpleNamespace
from typing import Any

import pytest

pytest.importorskip("starlette")

from lmstream import GenerationStats, Info, StopReason
from lmstream_server.metrics import ServerMetrics

from .conftest import http_client


def _value(metrics: ServerMetrics, name: str) -> float:
    value = metrics.registry.get_sample_value(name, {"model": "m", "backend": "b"})
    return 0.0 if value is None else value


def test_draft_counters_add_each_generations_figures() -> None:
    metrics = ServerMetrics()
    record: Any = SimpleNamespace(model=SimpleNamespace(name="m", backend="b"))
    stats = dataclasses.replace(GenerationStats(), draft_tokens_proposed=8, draft_tokens_accepted=5)
    info = Info(stop_reason=StopReason.STOP, stats=stats)
    assert metrics.drafts in metrics.observers  # every in-process generation runs with it
    for _ in range(2):
        metrics.drafts.on_end(record, info)
    assert _value(metrics, "lmstream_draft_tokens_proposed_total") == 16
    assert _value(metrics, "lmstream_draft_tokens_accepted_total") == 10


async def test_metrics_expose_the_draft_counters_after_a_generation(served: Any) -> None:
    app = served("ok")
    async with http_client(app) as http:
        response = await http.post("/v1/chat/completions", json={
            "model": "scripted", "messages": [{"role": "user", "content": "hi"}]})
        assert response.status_code == 200
        text = (await http.get("/metrics")).text
    assert 'lmstream_draft_tokens_proposed_total{backend="scripted"' in text
    assert 'lmstream_draft_tokens_accepted_total{backend="scripted"' in text
