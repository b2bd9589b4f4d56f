"""``lmstream serve`` and ``lmstream serve --ray`` share one serving path (``serving``): the flags
become the same load options (``--draft NAME`` is ``drafter=NAME``), the same app options
(key, Host check, write timeout) and the same guarded server (connection limits, drain)."""

from __future__ import annotations

import argparse
import ast
from pathlib import Path
from typing import Any

import pytest

pytest.importorskip("starlette")

from lmstream_server import command, serving
from lmstream_server.connections import ConnectionLimits

PACKAGE = Path(command.__file__).parent


class Stop(Exception):
    """Ends a launcher once the part under test has run."""


def _args(*flags: str) -> argparse.Namespace:
    parser = argparse.ArgumentParser()
    command.configure(parser)
    return parser.parse_args(list(flags))


def test_draft_flag_is_the_drafter_load_option(monkeypatch: pytest.MonkeyPatch) -> None:
    handed: list[dict[str, Any]] = []

    def loader(model: Any, backend: Any, **options: Any) -> Any:
        handed.append({"model": model, "backend": backend, **options})
        raise Stop

    monkeypatch.setattr(command, "load", loader)
    with pytest.raises(Stop):
        command.run(_args("--backend", "scripted", "--draft", "prompt_lookup", "-o", "draft_max_tokens=4"))
    assert handed == [{"model": None, "backend": "scripted", "drafter": "prompt_lookup", "draft_max_tokens": 4}]
    with pytest.raises(Stop):
        command.run(_args("--backend", "scripted"))
    assert "drafter" not in handed[-1]


def test_draft_given_twice_is_refused() -> None:
    with pytest.raises(ValueError, match="drafter"):
        serving.load_options(_args("--draft", "prompt_lookup", "-o", "drafter=draft_model"))


def _serve_captured(monkeypatch: pytest.MonkeyPatch) -> list[tuple[Any, ConnectionLimits, str]]:
    served: list[tuple[Any, ConnectionLimits, str]] = []

    def capture(app: Any, args: argparse.Namespace, limits: ConnectionLimits, banner: str, name: str) -> None:
        served.append((app, limits, banner))

    monkeypatch.setattr(serving, "serve_app", capture)
    monkeypatch.setattr(command, "serve_app", capture)
    return served


FLAGS = ("--backend", "scripted", "--header-timeout", "3", "--max-connections", "7", "--write-timeout", "9",
         "--allowed-host", "box.lan")


def _check(app: Any, limits: ConnectionLimits) -> None:
    assert (limits.header_s, limits.max_connections, limits.write_s) == (3.0, 7, 9.0)
    assert app.state.lmstream.limits.write_timeout_s == 9.0


def test_serve_uses_the_shared_guarded_server(monkeypatch: pytest.MonkeyPatch) -> None:
    served = _serve_captured(monkeypatch)
    assert command.run(_args(*FLAGS)) == 0
    [(app, limits, banner)] = served
    _check(app, limits)
    assert banner == "lmstream serve"


def test_serve_ray_uses_the_same_guarded_server(monkeypatch: pytest.MonkeyPatch) -> None:
    ray = pytest.importorskip("ray")
    from ray import serve

    from lmstream_server.ray import launch

    monkeypatch.setattr(ray, "init", lambda **kwargs: None)
    monkeypatch.setattr(ray, "shutdown", lambda: None)
    monkeypatch.setattr(serve, "shutdown", lambda: None)
    deployed: list[Any] = []

    class Handle:
        """Stands for the replicas' DeploymentHandle (never called: serving is captured)."""

        def options(self, **options: Any) -> Handle:
            return self

    def deploy(spec: Any, **options: Any) -> Handle:
        deployed.append((spec, options))
        return Handle()

    monkeypatch.setattr(launch, "deploy", deploy)
    served = _serve_captured(monkeypatch)
    assert launch.run(_args("--ray", "-o", 'reply="hi"', *FLAGS)) == 0
    [(app, limits, banner)] = served
    _check(app, limits)
    assert banner == "lmstream serve --ray"
    assert deployed[0][0].options == {"reply": "hi"}


def test_no_import_cycle_between_the_launchers() -> None:
    """``command`` may import ``ray.launch`` (lazily); ``ray.launch`` never imports ``command``."""
    tree = ast.parse((PACKAGE / "ray" / "launch.py").read_text())
    imported = {node.module for node in ast.walk(tree) if isinstance(node, ast.ImportFrom) and node.module}
    assert "command" not in {name.rsplit(".", 1)[-1] for name in imported}, imported


def test_the_server_freezes_its_start_up_heap_before_serving(monkeypatch: pytest.MonkeyPatch) -> None:
    """What the start-up made leaves the collector's full passes (each walks every tracked
    object with the GIL held, pausing every stream): ``serve_app`` freezes it before serving."""
    import gc

    import uvicorn

    frozen: list[int] = []

    def run(self: Any, sockets: Any = None) -> None:
        frozen.append(gc.get_freeze_count())
        for sock in sockets or ():
            sock.close()

    monkeypatch.setattr(uvicorn.Server, "run", run)
    monkeypatch.setattr(serving, "configure_logging", lambda level: None)  # no handler left behind
    gc.unfreeze()
    junk = [[i] for i in range(10_000)]  # tracked objects alive at start-up
    try:
        serving.serve_app(object(), _args("--backend", "scripted", "--port", "0"),
                          serving.connection_limits(_args()), "test", "m")
    finally:
        gc.unfreeze()
    assert frozen and frozen[0] >= len(junk)
