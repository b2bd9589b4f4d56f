"""Fixtures for driving the ``lmstream`` command line in a subprocess."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Callable
from typing import Any

import pytest

CLI = [sys.executable, "-m", "lmstream.cli"]


def _scripted_args(reply: Any = "Hello there", **options: Any) -> list[str]:
    args = ["--backend", "scripted", "--option", f"reply={json.dumps(reply)}"]
    for key, value in options.items():
        args += ["--option", f"{key}={json.dumps(value)}"]
    return args


@pytest.fixture
def scripted_args() -> Callable[..., list[str]]:
    """``scripted_args(reply, **options)``: ``--backend scripted`` and ``--option KEY=JSON`` each."""
    return _scripted_args


@pytest.fixture
def json_lines() -> Callable[[str], list[dict[str, Any]]]:
    """Every line of a text parsed as JSON."""
    return lambda text: [json.loads(line) for line in text.splitlines()]


@pytest.fixture
def run_cli(tmp_path) -> Callable[..., subprocess.CompletedProcess[str]]:
    """``run_cli(*args, input=None, env=None)``: ``python -m lmstream.cli`` in tmp_path."""

    def run(*args: str, input: str | None = None, env: dict[str, str] | None = None,
            timeout: float = 60) -> subprocess.CompletedProcess[str]:
        environment = {k: v for k, v in os.environ.items() if k != "LMSTREAM_OBSERVERS"}
        environment.update({"PYTHONUNBUFFERED": "1", **(env or {})})
        return subprocess.run([*CLI, *args], input=input, capture_output=True, text=True,
                              timeout=timeout, env=environment, cwd=tmp_path,
                              stdin=None if input is not None else subprocess.DEVNULL)

    return run
