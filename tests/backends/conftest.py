"""The embedded default model on every real backend installed here (mlx, llama_cpp).

``default_context`` is parametrized over the backends; one whose extra is not installed is
skipped with the reason. Contexts are loaded once per session (shared with tests/mlx).
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

sys.path.insert(0, str(Path(__file__).parent.parent / "mlx"))  # helpers.run_iterator (no mlx import)

BACKENDS = ("mlx", "llama_cpp")


@pytest.fixture(scope="session", params=BACKENDS)
def default_context(request: pytest.FixtureRequest,
                    default_contexts: Callable[[str], Any]) -> Any:
    """The default model (SmolLM2-135M-Instruct) on one backend."""
    return default_contexts(request.param)


@pytest.fixture(scope="session")
def live_bytes() -> Callable[[Any], int]:
    """``live_bytes(context)``: see ``_live_bytes``."""
    return _live_bytes


def _live_bytes(context: Any) -> int:
    """Memory a backend holds for running generations: mlx's active arrays; llama.cpp's KV
    cells in use (its weights and KV buffer are allocated once, at load)."""
    if context.info.backend == "mlx":
        from lmstream_mlx import memory

        return int(context.worker.call(memory.active_bytes))
    model = context.backend_model
    snapshot = context.worker.call(model.memory_snapshot)
    return int(snapshot["kv_cache_used_bytes"]) + model.engine.busy_slots  # +1 per leaked slot
