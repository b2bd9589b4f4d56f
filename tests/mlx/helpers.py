"""Test helpers: whether mlx is here, and driving a token iterator on the context's worker thread."""

from __future__ import annotations

import importlib.util
import threading
from collections.abc import Callable, Sequence
from typing import Any

from lmstream.model import GenerationControl
from lmstream.protocol import GenerationParameters

HAS_MLX = importlib.util.find_spec("mlx") is not None and importlib.util.find_spec("mlx_lm") is not None
NO_MLX_REASON = "mlx and mlx-lm are not installed (pip install 'lmstream[mlx]')"


def run_iterator(context: Any, prompt: Sequence[int], *, take: int, cache: Any = None,
                 cancel_after: int | None = None,
                 on_progress: Callable[[int, int], None] | None = None,
                 **parameters: Any) -> tuple[list[int], GenerationControl]:
    """Pull up to ``take`` ids (setting cancel after ``cancel_after``), then close the iterator."""
    params = GenerationParameters(**parameters)
    event = threading.Event()
    control = GenerationControl(event, on_progress)

    def job() -> list[int]:
        iterator = context.backend_model.token_iterator(list(prompt), params, cache, control)
        out: list[int] = []
        try:
            for token in iterator:
                out.append(token)
                if cancel_after is not None and len(out) >= cancel_after:
                    event.set()
                if len(out) >= take or event.is_set():
                    break
        finally:
            iterator.close()
        return out

    return context.worker.call(job), control
