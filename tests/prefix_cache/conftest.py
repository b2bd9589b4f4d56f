"""Fixtures for the prefix-cache tests: tiny mlx models built inside the test run (no download)."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

HERE = Path(__file__).parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(HERE.parent / "mlx"))  # gguf_writer, tiny_model


def _needs_mlx() -> None:
    pytest.importorskip("mlx.core")
    pytest.importorskip("mlx_lm")


@pytest.fixture(scope="module")
def hybrid_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The tiny random-weight hybrid (LFM2: conv + attention) model as an mlx-lm directory."""
    _needs_mlx()
    from tiny_hybrid import write_tiny_hybrid

    return write_tiny_hybrid(tmp_path_factory.mktemp("hybrid") / "tiny-lfm2")


@pytest.fixture(scope="module")
def tiny_llama(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The tiny random llama GGUF of tests/mlx (plain, trimmable KV caches)."""
    _needs_mlx()
    from tiny_model import write_tiny_llama

    return write_tiny_llama(tmp_path_factory.mktemp("llama") / "tiny.gguf",
                            **{"llama.context_length": 2048})


@pytest.fixture
def mlx_contexts() -> Iterator[Any]:
    """Factory of mlx contexts closed after the test."""
    import lmstream

    made: list[Any] = []

    def make(path: Path, **options: Any) -> Any:
        context = lmstream.load(str(path), backend="mlx", **options)
        made.append(context)
        return context

    yield make
    for context in made:
        context.close()
