"""A client that leaves mid-stream cancels its generation within one decode step and frees its slot."""

from __future__ import annotations

import asyncio
import gc
import os
import threading
import time
import tracemalloc
from typing import Any

import pytest

import lmstream

from .asgi_driver import call
from .conftest import http_client

USER = [{"role": "user", "content": "Count."}]
STEP = 0.05


class Ends:
    """A global observer plugin recording every generation's end and when it happened."""

    def __init__(self) -> None:
        self.infos: list[tuple[float, lmstream.Info]] = []

    @lmstream.hookimpl
    def lmstream_generation_end(self, generation: Any, info: lmstream.Info) -> None:
        self.infos.append((time.monotonic(), info))


@pytest.fixture
def ends(plugin_system: Any) -> Ends:
    recorder = Ends()
    plugin_system.register(recorder, name="test-ends")
    return recorder


BODIES = {
    "/v1/chat/completions": {"model": "scripted", "messages": USER, "stream": True},
    "/v1/completions": {"model": "scripted", "prompt": "x", "stream": True},
    "/v1/responses": {"model": "scripted", "input": "Count.", "stream": True},
    "/v1/messages": {"model": "scripted", "max_tokens": 1000, "messages": USER, "stream": True},
}


@pytest.mark.parametrize("path", sorted(BODIES))
async def test_disconnect_cancels_within_one_step(served: Any, ends: Ends, path: str) -> None:
    app = served("tick ", repeat=True, token_delay=STEP)
    state = app.state.lmstream
    exchange = await call(app, path, BODIES[path], disconnect_after=4)
    assert exchange.disconnected_at is not None
    for _ in range(100):
        if ends.infos:
            break
        await asyncio.sleep(0.01)
    ended_at, info = ends.infos[-1]
    assert info.stop_reason == lmstream.StopReason.CANCELLED
    loop_now, mono_now = asyncio.get_running_loop().time(), time.monotonic()
    latency = (ended_at - mono_now) - (exchange.disconnected_at - loop_now)
    assert latency < 3 * STEP, f"generation ended {latency:.3f}s after the disconnect"
    assert info.stats.generated_tokens < 40
    assert state.in_flight == 0
    async with http_client(app) as http:  # the next request works
        body = {"model": "scripted", "messages": USER, "max_tokens": 3}
        assert (await http.post("/v1/chat/completions", json=body)).json()["choices"][0]["message"]["content"] == "tic"


async def test_non_streamed_request_cancelled_when_the_client_leaves(served: Any, ends: Ends) -> None:
    app = served("tick ", repeat=True, token_delay=STEP)
    body = {"model": "scripted", "messages": USER, "max_tokens": 10_000}

    exchange = await call(app, "/v1/chat/completions", body, disconnect_after_s=0.3)
    assert exchange.disconnected_at is not None and exchange.status == 0  # nothing sent to a gone client
    for _ in range(100):
        if ends.infos:
            break
        await asyncio.sleep(0.01)
    assert ends.infos and ends.infos[-1][1].stop_reason == lmstream.StopReason.CANCELLED
    assert app.state.lmstream.in_flight == 0


def _threads() -> int:
    """Threads other than the event loop's default executor (a bounded pool that grows lazily)."""
    return sum(1 for t in threading.enumerate() if not t.name.startswith("asyncio_"))


async def test_200_disconnects_leak_no_threads_or_memory(served: Any) -> None:
    app = served("tick ", repeat=True, token_delay=0.002)
    body = BODIES["/v1/chat/completions"]
    for _ in range(20):  # warm up caches and lazily created objects
        await call(app, "/v1/chat/completions", body, disconnect_after=3)
    gc.collect()
    threads = _threads()
    tracemalloc.start()
    before = tracemalloc.get_traced_memory()[0]
    for _ in range(200):
        await call(app, "/v1/chat/completions", body, disconnect_after=3)
    await asyncio.sleep(0.1)
    gc.collect()
    after = tracemalloc.get_traced_memory()[0]
    tracemalloc.stop()
    assert _threads() <= threads
    pool = [t for t in threading.enumerate() if t.name.startswith("asyncio_")]
    assert len(pool) <= min(32, (os.cpu_count() or 1) + 4)  # the loop's bounded to_thread pool
    assert after - before < 512 * 1024, f"memory grew by {after - before} bytes over 200 disconnects"
    assert app.state.lmstream.in_flight == 0
