"""A bystander's stream and /health stay responsive while hostile requests run (in process, ASGI).

Each case runs one class of hostile request (several at once) against the app while a polite
streaming chat runs on the scripted backend (a token every 5 ms) and /health is polled every
20 ms. The figure of merit is the bystander's worst inter-token gap and the worst /health
latency while the hostile requests run; they must stay within 250 ms beyond what the same
machine shows with no hostile request at all (its own scheduling noise, printed alongside).
The hostile requests may fail (4xx, 503): what is measured is what they do to everyone else.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import os
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

import lmstream

pytest.importorskip("starlette")

from lmstream_server import create_app

pytestmark = pytest.mark.slow

BUDGET_S = 0.25
"""The goal for the worst gap a hostile request may add (printed per case, see -s)."""
ASSERT_S = 0.75
"""What the test asserts: the goal with room for a loaded CI machine (the GIL is shared by the
parse/validate threads, the scheduler and the loop). Before the fixes these cases froze the
bystander for 1-100 s, so the assertion still catches every regression of the class."""
USER = [{"role": "user", "content": "Count."}]


def _scope(method: str, path: str) -> dict[str, Any]:
    return {"type": "http", "asgi": {"version": "3.0", "spec_version": "2.4"}, "http_version": "1.1",
            "method": method, "scheme": "http", "path": path, "raw_path": path.encode(), "query_string": b"",
            "root_path": "", "headers": [(b"content-type", b"application/json"), (b"host", b"127.0.0.1")],
            "client": ("127.0.0.1", 50000), "server": ("127.0.0.1", 80)}


async def _call(app: Any, method: str, path: str, body: bytes = b"",
                on_piece: Callable[[bytes], None] | None = None) -> int:
    """One request with a raw body (no JSON work on the loop); the status."""
    status = 0
    sent = False
    done = asyncio.Event()

    async def receive() -> dict[str, Any]:
        nonlocal sent
        if not sent:
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}
        await done.wait()
        return {"type": "http.disconnect"}

    async def send(message: dict[str, Any]) -> None:
        nonlocal status
        if message["type"] == "http.response.start":
            status = message["status"]
        elif message["type"] == "http.response.body":
            if message.get("body") and on_piece is not None:
                on_piece(message["body"])
            if not message.get("more_body"):
                done.set()

    try:
        await app(_scope(method, path), receive, send)
    finally:
        done.set()
    return status


def _chat(**extra: Any) -> bytes:
    return json.dumps({"model": "scripted", "messages": USER, **extra}).encode()


def _huge_body() -> bytes:
    items = ",".join(['{"k":[1,2,3,"abc"]}'] * 190_000)  # ~3.8 MB of small objects
    return b'{"model":"scripted","messages":[{"role":"user","content":"x"}],"metadata_blob":[' + items.encode() + b"]}"


def _nested() -> bytes:
    depth = 1_900_000
    return b'{"model":"scripted","messages":' + b"[" * depth + b"]" * depth + b"}"


def _schema_100k() -> bytes:
    properties = {f"p{i}": {"type": "string"} for i in range(100_000)}
    return _chat(response_format={"type": "json_schema", "json_schema": {
        "name": "big", "schema": {"type": "object", "properties": properties}}})


def _messages_120k() -> bytes:
    return json.dumps({"model": "scripted", "max_tokens": 2,
                       "messages": [{"role": "user", "content": ""}] * 120_000}, separators=(",", ":")).encode()


def _stop_200k() -> bytes:
    return json.dumps({"model": "scripted", "max_tokens": 5, "messages": USER,
                       "stop_sequences": [f"stop{i}" for i in range(200_000)]}).encode()


def _tokenize() -> bytes:
    return json.dumps({"model": "scripted", "prompt": "word " * 20_000}).encode()


CASES: dict[str, tuple[str, Callable[[], bytes], int]] = {
    "huge_body": ("/v1/chat/completions", _huge_body, 3),
    "nested_json": ("/v1/chat/completions", _nested, 2),
    "schema_100k_properties": ("/v1/chat/completions", _schema_100k, 2),
    "messages_120k": ("/v1/chat/completions", _messages_120k, 2),
    "anthropic_stop_200k": ("/v1/messages", _stop_200k, 2),
    "many_tokenize": ("/tokenize", _tokenize, 200),
}
"""case -> (route, body builder, how many run at once)."""

async def _measure(app: Any, hostile: tuple[str, bytes, int] | None) -> tuple[float, float, list[int]]:
    """(worst inter-token gap, worst /health latency, hostile statuses) over one bystander stream."""
    arrivals: list[float] = []
    first_tokens = asyncio.Event()

    def on_piece(piece: bytes) -> None:
        arrivals.append(time.perf_counter())
        if len(arrivals) >= 10:
            first_tokens.set()

    stream = asyncio.ensure_future(_call(app, "POST", "/v1/chat/completions",
                                         _chat(stream=True, max_tokens=400), on_piece))
    await asyncio.wait_for(first_tokens.wait(), 60)
    health_worst = 0.0
    stop = asyncio.Event()

    async def poll_health() -> None:
        nonlocal health_worst
        while not stop.is_set():
            started = time.perf_counter()
            assert await _call(app, "GET", "/health") == 200
            health_worst = max(health_worst, time.perf_counter() - started)
            await asyncio.sleep(0.02)

    poller = asyncio.ensure_future(poll_health())
    hostile_tasks: list[asyncio.Future[int]] = []
    mark = len(arrivals)
    if hostile is not None:
        path, body, count = hostile
        hostile_tasks = [asyncio.ensure_future(_call(app, "POST", path, body)) for _ in range(count)]
    await stream
    stop.set()
    await poller
    statuses = list(await asyncio.gather(*hostile_tasks)) if hostile_tasks else []
    window = arrivals[max(0, mark - 1):]
    gaps = [b - a for a, b in itertools.pairwise(window)]
    return max(gaps, default=0.0), health_worst, statuses


CHILD = "LMSTREAM_BYSTANDER_CHILD"
"""Set in the fresh process each case runs in (see ``test_a_bystander_stays_responsive``)."""


@pytest.mark.parametrize("case", sorted(CASES))
def test_a_bystander_stays_responsive(case: str) -> None:
    """Each case runs in a fresh process: a hostile body's millions of allocations start
    full garbage collections, which walk every object the process holds, so in a process
    holding what the whole suite before it left behind the gap measured that heap (a
    3 MB schema: 125-139 ms in a fresh process, 614 ms beside 6 million objects, 0.9-1.0 s
    late in the full suite), not what the request does to the bystander."""
    if os.environ.get(CHILD) != "1":
        node = f"{Path(__file__).resolve()}::test_a_bystander_stays_responsive[{case}]"
        run = subprocess.run([sys.executable, "-m", "pytest", "-q", "-s", "-p", "no:cacheprovider", node],
                             cwd=Path(__file__).resolve().parents[2], env={**os.environ, CHILD: "1"},
                             capture_output=True, text=True, timeout=600, check=False)
        print(run.stdout[-2000:])
        assert run.returncode == 0 and " passed" in run.stdout, run.stdout[-4000:] + run.stderr[-2000:]
        return
    path, build, count = CASES[case]
    body = build()
    context = lmstream.load(backend="scripted", reply="tick ", repeat=True, token_delay=0.005)
    try:
        app = create_app(context, max_batch_size=8, max_queue=256)

        async def run() -> tuple[tuple[float, float, list[int]], tuple[float, float, list[int]]]:
            quiet = await _measure(app, None)
            loud = await _measure(app, (path, body, count))
            return quiet, loud

        (quiet_gap, quiet_health, _), (gap, health, statuses) = asyncio.run(run())
    finally:
        context.close()
    kinds = sorted(set(statuses))
    verdict = "within" if gap <= BUDGET_S + quiet_gap else "OVER"
    print(f"\n[{verdict} the {BUDGET_S * 1000:.0f} ms goal] {case}: bytes={len(body)} x{count} statuses={kinds} worst gap {gap * 1000:.0f} ms, "
          f"/health worst {health * 1000:.0f} ms (quiet: {quiet_gap * 1000:.0f} / {quiet_health * 1000:.0f} ms)")
    assert 500 not in statuses
    assert gap <= ASSERT_S + quiet_gap, f"{case}: worst inter-token gap {gap * 1000:.0f} ms"
    assert health <= ASSERT_S + quiet_health, f"{case}: worst /health latency {health * 1000:.0f} ms"
