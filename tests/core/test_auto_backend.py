"""``backend="auto"`` (the default): which backend ``load`` picks on which machine, and why."""

from __future__ import annotations

import logging

import pytest

import lmstream
from lmstream.api import AUTO, BackendChoice, choose_backend

auto = pytest.importorskip("lmstream.api._auto")


@pytest.fixture
def machine(monkeypatch):
    """``machine(apple=..., accelerator=..., llama_importable=...)``: fake what auto looks at."""
    def set_up(*, apple: bool = False, accelerator: str | None = None,
               llama_importable: bool = True) -> None:
        monkeypatch.setattr(auto, "_apple_silicon", lambda: apple)
        monkeypatch.setattr(auto, "mlx_accelerator", lambda: accelerator)
        monkeypatch.setattr(auto, "_importable", lambda module: llama_importable)
        monkeypatch.setattr(auto, "_hinted", False)

    return set_up


BOTH = ("echo", "llama_cpp", "mlx", "scripted")


def test_a_named_backend_is_taken_as_given(machine):
    machine()
    assert choose_backend("mlx", BOTH) == BackendChoice("mlx", "requested")
    assert choose_backend("scripted", BOTH).name == "scripted"


def test_cpu_only_with_llama_cpp_installed_picks_llama_cpp(machine):
    machine()
    for requested in (None, AUTO):
        choice = choose_backend(requested, BOTH)
        assert choice.name == "llama_cpp"
        assert choice.describe() == "llama_cpp (auto: CPU-only machine, llama.cpp installed)"


def test_apple_silicon_and_cuda_pick_mlx(machine):
    machine(apple=True)
    assert choose_backend(None, BOTH) == BackendChoice("mlx", "auto: Apple silicon")
    machine(accelerator="CUDA")
    assert choose_backend(None, BOTH) == BackendChoice("mlx", "auto: mlx has CUDA")
    machine(accelerator="Metal")
    assert choose_backend(None, BOTH).name == "mlx"


def test_cpu_only_without_llama_cpp_runs_mlx_and_hints_once(machine, caplog):
    machine(llama_importable=False)
    with caplog.at_level(logging.WARNING, logger="lmstream"):
        first = choose_backend(None, BOTH)
        second = choose_backend(None, ("mlx",))
    assert first.name == second.name == "mlx"
    assert first.reason == "auto: CPU-only machine, llama.cpp not installed"
    hints = [r.getMessage() for r in caplog.records if "faster" in r.getMessage()]
    assert hints == [auto.LLAMA_CPP_HINT]
    assert 'pip install "lmstream[llama-cpp]"' in hints[0]


def test_only_llama_cpp_registered_picks_it_even_with_an_accelerator(machine):
    machine(accelerator="CUDA")
    assert choose_backend(None, ("llama_cpp", "scripted")).name == "llama_cpp"


def test_load_records_the_choice_on_the_context(machine):
    machine()
    with lmstream.load(backend="scripted") as context:
        assert context.backend_choice == BackendChoice("scripted", "requested")
        assert context.info.backend == "scripted"


def test_load_auto_names_the_backend_that_ran(machine, monkeypatch):
    # auto's choice goes to the registry: pick "scripted" to keep this test model-free
    monkeypatch.setattr(auto, "_apple_silicon", lambda: False)
    monkeypatch.setattr(lmstream.api._context, "choose_backend",
                        lambda requested, names: BackendChoice("scripted", "auto: test"))
    with lmstream.load(reply="hi", model_chat_template=None) as context:
        assert context.info.backend == "scripted"
        assert context.backend_choice.describe() == "scripted (auto: test)"
        assert context.generate("x").text == "hi"


def test_plugins_listing_names_the_default_backend_and_why(machine):
    from lmstream_commands.plugins_command import describe

    machine()
    lines = describe(lmstream.get_plugin_system())
    if "llama_cpp" in lmstream.get_plugin_system().backends:
        assert "default backend: llama_cpp (auto: CPU-only machine, llama.cpp installed)" in lines
    else:
        assert any(line.startswith("default backend: ") for line in lines)
