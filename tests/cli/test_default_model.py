"""The main job on the real default model: ``lmstream generate ... --stats`` (slow: a real model)."""

from __future__ import annotations

import re

import pytest

import lmstream

pytestmark = pytest.mark.slow


@pytest.fixture(params=["mlx", "llama_cpp"])
def default_model_available(request, require_backend) -> str:
    """The backend under test (skipped where it or the default model is not installed)."""
    if request.param not in lmstream.get_plugin_system().backends:
        pytest.skip(f"the {request.param} backend is not registered")
    require_backend(request.param)
    return str(request.param)


def test_generate_prints_the_answer_and_real_stats(run_cli, default_model_available):
    done = run_cli("generate", "Why is the sky blue?", "--stats", "--max-tokens", "24",
                   "--backend", default_model_available, timeout=600)
    assert done.returncode == 0, done.stderr
    answer, block = done.stdout.split("\n\n[STATS]\n", 1)
    assert len(answer.split()) >= 3
    figures = dict(line.split(":", 1) for line in block.splitlines())
    assert figures["stop reason"].strip() in ("stop", "length")
    generated = int(re.match(r"\s*(\d+) tokens", figures["generated"]).group(1))
    assert 1 <= generated <= 24
    assert int(re.match(r"\s*(\d+) tokens", figures["prompt"]).group(1)) > 5
    assert float(figures["decode"].split(",")[1].split()[0]) > 0  # real tok/s
    # both real backends know their memory: those lines are there
    assert "weights" in figures and "memory (peak)" in figures
    assert figures["backend"].strip() == f"{default_model_available} (requested)"
