"""Hostile clients over real loopback sockets: reset storms, clients that never read, slow senders.

The server runs ``lmstream serve``'s uvicorn configuration (guarded protocol, connection cap)
in a thread on 127.0.0.1; the scripted backend generates. Every hostile phase is bounded in
count and time, and every test ends by checking that a polite request is served.
"""

from __future__ import annotations

import json
import socket
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest

import lmstream
from lmstream_server import create_app
from lmstream_server.connections import ConnectionLimits

from .transport_server import (
    closed_by_server,
    connect,
    get_json,
    http_request,
    post_json,
    reset,
    running,
    wait_idle,
)

pytest.importorskip("uvicorn")

USER = [{"role": "user", "content": "Count."}]
STREAM = {"model": "scripted", "messages": USER, "stream": True, "max_tokens": 100_000}
POLITE = {"model": "scripted", "messages": USER, "max_tokens": 5}


@pytest.fixture
def endless() -> Iterator[lmstream.ModelContext]:
    """A scripted model that never stops on its own (max_tokens ends it)."""
    context = lmstream.load(backend="scripted", reply="tick ", repeat=True, token_delay=0.001)
    yield context
    context.close()


def _polite_succeeds(port: int, within_s: float = 20.0) -> float:
    """Retry a 5-token chat request through 503s; the seconds until it succeeded."""
    started = time.monotonic()
    while True:
        status, raw = post_json(port, "/v1/chat/completions", POLITE)
        if status == 200:
            assert json.loads(raw)["choices"][0]["message"]["content"] == "tick "
            return time.monotonic() - started
        assert status == 503, raw
        assert time.monotonic() - started < within_s, "a polite request got no answer"
        time.sleep(0.1)


def test_a_reset_storm_leaks_no_slot(endless: lmstream.ModelContext) -> None:
    """800 streaming requests reset at different moments, capacity 4: in_flight returns to 0."""
    app = create_app(endless, max_batch_size=2, max_queue=2)
    with running(app) as (port, _):
        request = http_request("/v1/chat/completions", STREAM)

        def one(index: int) -> None:
            try:
                sock = connect(port)
            except OSError:
                return
            try:
                sock.sendall(request)
                if index % 4 == 1:
                    sock.recv(1)  # the headers (or a 503) arrived
                elif index % 4 == 2:
                    sock.recv(4096)
                elif index % 4 == 3:
                    time.sleep(0.002)
            except OSError:
                pass
            finally:
                reset(sock)

        with ThreadPoolExecutor(16) as pool:
            list(pool.map(one, range(800)))
        assert wait_idle(port) == 0
        _polite_succeeds(port)


def test_clients_that_never_read_do_not_starve_a_polite_request(endless: lmstream.ModelContext) -> None:
    """8 streams whose clients read nothing hold the whole batch: the write timeout frees them."""
    app = create_app(endless, max_batch_size=8, max_queue=0, write_timeout_s=1.0)
    limits = ConnectionLimits(write_s=1.0)
    with running(app, limits=limits, sndbuf=4096) as (port, _):
        hogs = []
        for _ in range(8):
            sock = connect(port, rcvbuf=4096)
            sock.sendall(http_request("/v1/chat/completions", STREAM))
            hogs.append(sock)
        waited = _polite_succeeds(port, within_s=20.0)
        print(f"polite request served after {waited:.2f}s with 8 non-reading clients connected")
        for sock in hogs:
            reset(sock)
        assert wait_idle(port) == 0
        _polite_succeeds(port, within_s=5.0)


def test_non_reading_clients_that_vanish_free_their_slots(endless: lmstream.ModelContext) -> None:
    """The same 8 clients vanish (RST) before any write timeout: their slots come back at once."""
    app = create_app(endless, max_batch_size=8, max_queue=0)
    with running(app, sndbuf=4096) as (port, _):
        hogs = []
        for _ in range(8):
            sock = connect(port, rcvbuf=4096)
            sock.sendall(http_request("/v1/chat/completions", STREAM))
            hogs.append(sock)
        deadline = time.monotonic() + 20
        while get_json(port, "/health")[0]["in_flight"] < 8:
            assert time.monotonic() < deadline
            time.sleep(0.05)
        time.sleep(0.5)  # their buffers fill; writes are blocked
        for sock in hogs:
            reset(sock)
        assert wait_idle(port, within_s=10.0) == 0
        _polite_succeeds(port, within_s=5.0)


def _protocol(name: str) -> Any:
    if name == "h11":
        from uvicorn.protocols.http.h11_impl import H11Protocol

        return H11Protocol
    return None  # uvicorn's choice: httptools when installed


@pytest.mark.parametrize("implementation", ["auto", "h11"])
def test_slow_headers_and_slow_bodies_are_closed_while_polite_requests_go_on(
        endless: lmstream.ModelContext, implementation: str) -> None:
    """200 connections: headers never finished (some trickling a byte at a time), bodies never
    finished. The timeouts close every one; polite requests meanwhile keep a short latency."""
    app = create_app(endless, max_batch_size=4, max_queue=4)
    limits = ConnectionLimits(header_s=1.0, body_s=1.5)
    with running(app, limits=limits, protocol=_protocol(implementation)) as (port, _):
        slow: list[socket.socket] = []
        for index in range(200):
            sock = connect(port)
            if index % 2:
                sock.sendall(b"POST /v1/chat/completions HTTP/1.1\r\nHost: 127.0.0.1\r\n")
            else:
                sock.sendall(b"POST /v1/chat/completions HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                             b"Content-Type: application/json\r\nContent-Length: 5000\r\n\r\n{\"model\"")
            slow.append(sock)
        stop = threading.Event()

        def trickle() -> None:  # a byte of header every 0.2 s must not reset the header timeout
            while not stop.is_set():
                for sock in slow[1:20:2]:
                    try:
                        sock.send(b"X")
                    except OSError:
                        pass
                stop.wait(0.2)

        trickler = threading.Thread(target=trickle, daemon=True)
        trickler.start()
        latencies: list[float] = []
        try:
            for _ in range(10):
                latencies.append(get_json(port, "/health")[1])
                started = time.perf_counter()
                assert post_json(port, "/v1/chat/completions", POLITE)[0] == 200
                latencies.append(time.perf_counter() - started)
            closed = [closed_by_server(sock, within_s=10.0) for sock in slow]
        finally:
            stop.set()
            trickler.join(timeout=5)
            for sock in slow:
                sock.close()
        print(f"polite latency worst {max(latencies) * 1000:.0f} ms over {len(latencies)} requests; "
              f"{sum(closed)} of {len(slow)} slow connections closed by the server")
        assert all(closed)
        assert max(latencies) < 5.0  # generous: a loaded 2-core machine; the point is "not stuck"
        _polite_succeeds(port, within_s=5.0)


def test_a_connection_cap_answers_503_beyond_it(endless: lmstream.ModelContext) -> None:
    app = create_app(endless)
    with running(app, limits=ConnectionLimits(max_connections=4, header_s=5.0)) as (port, _):
        idle = [connect(port) for _ in range(4)]
        time.sleep(0.2)
        try:
            sock = connect(port)
            sock.sendall(http_request("/health"))
            assert sock.recv(100).startswith(b"HTTP/1.1 503")
            sock.close()
        finally:
            for sock in idle:
                sock.close()
        time.sleep(0.2)
        assert get_json(port, "/health")[0]["status"] == "ok"
