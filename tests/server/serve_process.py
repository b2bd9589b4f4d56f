"""Run a real ``lmstream serve`` subprocess on 127.0.0.1 and a free port, stopped by the test."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager


def free_port() -> int:
    """A port free on 127.0.0.1 right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextmanager
def serve(*args: str, startup_s: float = 120.0) -> Iterator[tuple[str, subprocess.Popen[str]]]:
    """``lmstream serve ARGS --port P``; yields (base URL, process); SIGINT and a bounded wait at the end."""
    port = free_port()
    command = [sys.executable, "-m", "lmstream.cli", "serve", "--host", "127.0.0.1", "--port", str(port),
               "--log-level", "warning", *args]
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "TOKENIZERS_PARALLELISM": "false"}
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env)
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + startup_s
        while True:
            if process.poll() is not None:
                raise RuntimeError(f"lmstream serve exited with {process.returncode}: {process.stdout.read()}")  # type: ignore[union-attr]
            try:
                with urllib.request.urlopen(f"{base}/health", timeout=1) as response:
                    if response.status == 200:
                        break
            except OSError:
                pass
            if time.monotonic() > deadline:
                raise TimeoutError(f"lmstream serve did not start within {startup_s}s")
            time.sleep(0.1)
        yield base, process
    finally:
        if process.poll() is None:
            process.send_signal(signal.SIGINT)
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(timeout=10)
