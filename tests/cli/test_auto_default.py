"""``lmstream generate`` without ``--backend`` on a CPU-only machine with the llama-cpp extra
runs llama.cpp, and ``--stats`` says so and why (slow: the real default model)."""

from __future__ import annotations

import pytest

import lmstream
from lmstream.api import choose_backend

pytestmark = pytest.mark.slow


def test_generate_without_backend_runs_llama_cpp(run_cli, require_backend):
    require_backend("llama_cpp")
    if choose_backend(None, lmstream.get_plugin_system().backends.names()).name != "llama_cpp":
        pytest.skip("this machine has an accelerator mlx prefers")
    done = run_cli("generate", "Say hello.", "--stats", "--max-tokens", "8", timeout=600)
    assert done.returncode == 0, done.stderr
    assert "backend: llama_cpp (auto: CPU-only machine, llama.cpp installed)" in done.stdout


def test_backend_flag_overrides_auto(run_cli, require_backend):
    require_backend("mlx")
    done = run_cli("generate", "Say hello.", "--stats", "--max-tokens", "2", "--backend", "mlx",
                   timeout=600)
    assert done.returncode == 0, done.stderr
    assert "backend: mlx (requested)" in done.stdout
