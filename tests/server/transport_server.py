"""Run an app under ``lmstream serve``'s uvicorn configuration in a thread, on 127.0.0.1 and a free port.

Also raw-socket helpers for hostile clients (reset, never read, send slowly).
"""

from __future__ import annotations

import json
import socket
import struct
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from lmstream_server.connections import ConnectionLimits, server_config


@contextmanager
def running(app: Any, *, limits: ConnectionLimits | None = None, sndbuf: int | None = None,
            drain_timeout_s: float = 5.0, protocol: Any = None) -> Iterator[tuple[int, Any]]:
    """Serve ``app`` (guarded protocol, connection cap) in a thread; yields (port, uvicorn.Server)."""
    import uvicorn

    config = server_config(app, host="127.0.0.1", port=0, log_level="warning", drain_timeout_s=drain_timeout_s,
                           limits=limits or ConnectionLimits(), protocol=protocol)
    server = uvicorn.Server(config)
    sock = config.bind_socket()
    if sndbuf is not None:  # accepted sockets inherit it: a small kernel buffer fills fast
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, sndbuf)
    port = int(sock.getsockname()[1])
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started:
        assert time.monotonic() < deadline and thread.is_alive(), "the server did not start"
        time.sleep(0.02)
    try:
        yield port, server
    finally:
        server.should_exit = True
        thread.join(timeout=30)
        sock.close()


def http_request(path: str, body: dict[str, Any] | None = None, *, host: str = "127.0.0.1") -> bytes:
    """The raw bytes of one HTTP/1.1 request (a JSON POST when ``body`` is given)."""
    if body is None:
        return f"GET {path} HTTP/1.1\r\nHost: {host}\r\n\r\n".encode()
    data = json.dumps(body).encode()
    head = (f"POST {path} HTTP/1.1\r\nHost: {host}\r\nContent-Type: application/json\r\n"
            f"Content-Length: {len(data)}\r\n\r\n")
    return head.encode() + data


def connect(port: int, *, rcvbuf: int | None = None, timeout: float = 10.0) -> socket.socket:
    """A client socket to the server (``rcvbuf``: a small receive buffer, set before connecting)."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    if rcvbuf is not None:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
    sock.settimeout(timeout)
    sock.connect(("127.0.0.1", port))
    return sock


def reset(sock: socket.socket) -> None:
    """Close with a TCP RST (SO_LINGER 0), as a crashed or impatient client does."""
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    except OSError:
        pass
    sock.close()


def closed_by_server(sock: socket.socket, within_s: float) -> bool:
    """Whether the server closes ``sock`` within ``within_s`` (reads past whatever it sent)."""
    sock.settimeout(within_s)
    deadline = time.monotonic() + within_s
    try:
        while time.monotonic() < deadline:
            if not sock.recv(65536):
                return True
    except (ConnectionResetError, BrokenPipeError):
        return True
    except TimeoutError:
        return False
    return False


def get_json(port: int, path: str, timeout: float = 10.0) -> tuple[Any, float]:
    """GET ``path`` as JSON; (value, seconds it took)."""
    started = time.perf_counter()
    with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=timeout) as response:
        value = json.loads(response.read())
    return value, time.perf_counter() - started


def post_json(port: int, path: str, body: dict[str, Any], timeout: float = 30.0) -> tuple[int, bytes]:
    """POST ``body``; (status, raw body) also for error statuses."""
    request = urllib.request.Request(f"http://127.0.0.1:{port}{path}", data=json.dumps(body).encode(),
                                     headers={"Content-Type": "application/json"}, method="POST")
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            return response.status, response.read()
    except urllib.error.HTTPError as error:
        return error.code, error.read()


def wait_idle(port: int, within_s: float = 30.0) -> int:
    """Poll /health until ``in_flight`` is 0 (or the time is up); the last value seen."""
    deadline = time.monotonic() + within_s
    while True:
        in_flight = int(get_json(port, "/health")[0]["in_flight"])
        if in_flight == 0 or time.monotonic() > deadline:
            return in_flight
        time.sleep(0.1)
