"""/metrics reports each served model's prefix cache: lookups, hits, hit and miss tokens,
bytes, evictions."""

from __future__ import annotations

import re

import pytest

import lmstream

pytest.importorskip("starlette")
httpx = pytest.importorskip("httpx")
pytest.importorskip("prometheus_client")

from lmstream_server import create_app  # noqa: E402

SYSTEM = "You are an agent with tools. " * 10


def series(text: str, name: str) -> float:
    match = re.search(rf'^{name}{{model="scripted"}} ([0-9.e+]+)$', text, re.M)
    assert match is not None, f"{name} missing"
    return float(match.group(1))


async def test_metrics_count_prefix_cache_reuse() -> None:
    context = lmstream.load(backend="scripted", reply="ok", prefix_cache_bytes=1 << 20)
    try:
        app = create_app(context)
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://t", timeout=30) as http:
            for question in ("first?", "second?"):
                body = {"model": "scripted", "max_tokens": 4, "messages": [
                    {"role": "system", "content": SYSTEM}, {"role": "user", "content": question}]}
                assert (await http.post("/v1/chat/completions", json=body)).status_code == 200
            text = (await http.get("/metrics")).text
        stats = context.prefix_cache.stats()
    finally:
        context.close()
    assert series(text, "lmstream_server_prefix_cache_lookups_total") == 2
    assert series(text, "lmstream_server_prefix_cache_hits_total") == 1
    assert series(text, "lmstream_server_prefix_cache_hit_tokens_total") == stats.hit_tokens > 0
    assert series(text, "lmstream_server_prefix_cache_miss_tokens_total") == stats.miss_tokens
    assert series(text, "lmstream_server_prefix_cache_bytes") == stats.bytes > 0
    assert series(text, "lmstream_server_prefix_cache_capacity_bytes") == 1 << 20
    assert series(text, "lmstream_server_prefix_cache_evictions_total") == 0


def test_serve_flag_passes_the_budget_to_load() -> None:
    import argparse

    from lmstream_server.command import configure, load_options

    parser = argparse.ArgumentParser()
    configure(parser)
    assert load_options(parser.parse_args(["--prefix-cache-bytes", "0"]))["prefix_cache_bytes"] == 0
    assert "prefix_cache_bytes" not in load_options(parser.parse_args([]))
    with pytest.raises(ValueError, match="prefix_cache_bytes"):
        load_options(parser.parse_args(["--prefix-cache-bytes", "5", "-o", "prefix_cache_bytes=6"]))
