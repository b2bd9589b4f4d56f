"""``lmstream serve --ray``: its options, their checks, and (slow) a real subprocess with 2 replicas."""

from __future__ import annotations

import argparse
import json
import urllib.request
from typing import Any

import pytest

from lmstream.cli import main
from lmstream_server.ray.launch import parse_autoscale

from .serve_process import serve


def test_help_lists_the_ray_options(capsys: Any) -> None:
    assert main(["serve", "--help"]) == 0
    out = capsys.readouterr().out
    for option in ("--ray", "--replicas", "--autoscale", "--ray-address"):
        assert option in out


def test_autoscale_bounds_are_checked() -> None:
    assert parse_autoscale("1:4") == (1, 4)
    for bad in ("4:1", "0:2", "3", "a:b", ""):
        with pytest.raises(argparse.ArgumentTypeError, match="MIN:MAX"):
            parse_autoscale(bad)


@pytest.mark.parametrize("args", [["--replicas", "2"], ["--autoscale", "1:2"], ["--ray-address", "auto"],
                                  ["--ray", "--replicas", "2", "--autoscale", "1:2"], ["--ray", "--autoscale", "2:1"]])
def test_scale_options_need_ray_and_valid_values(args: list[str]) -> None:
    assert main(["serve", "--backend", "scripted", "--port", "1", *args]) == 2


@pytest.mark.slow
def test_serve_ray_subprocess_answers_through_two_replicas() -> None:
    pytest.importorskip("ray")
    with serve("--ray", "--replicas", "2", "--backend", "scripted", "-o", 'reply="Hi from a replica"',
               startup_s=300) as (base, _):
        request = urllib.request.Request(
            f"{base}/v1/chat/completions", method="POST", headers={"content-type": "application/json"},
            data=json.dumps({"model": "scripted", "messages": [{"role": "user", "content": "Hello?"}]}).encode())
        with urllib.request.urlopen(request, timeout=120) as response:
            answer = json.load(response)
        assert answer["choices"][0]["message"]["content"] == "Hi from a replica"
        with urllib.request.urlopen(f"{base}/metrics", timeout=60) as response:
            assert b"lmstream_server_replica_generations_total{" in response.read()
