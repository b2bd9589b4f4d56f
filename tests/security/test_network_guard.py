"""The no_network guard itself: it refuses and records every connection attempt."""

from __future__ import annotations

import socket
import urllib.request
from typing import Any

import pytest


def test_guard_refuses_and_records(no_network: Any) -> None:
    with pytest.raises(ConnectionRefusedError):
        socket.create_connection(("127.0.0.1", 9))
    with socket.socket() as sock, pytest.raises(ConnectionRefusedError):
        sock.connect(("127.0.0.1", 9))
    with pytest.raises(OSError):
        urllib.request.urlopen("http://127.0.0.1:9/x", timeout=1)
    assert len(no_network.attempts) >= 3
    no_network.attempts.clear()  # this test made them on purpose: let teardown pass
