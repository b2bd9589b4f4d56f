"""Test helpers: whether mlx is here, and running one sequence alone through the backend's
runner (what a single stream is) on the context's worker thread."""

from __future__ import annotations

import importlib.util
import math
import threading
from collections.abc import Callable, Sequence
from typing import Any

from lmstream.model import GenerationControl, SequenceRequest
from lmstream.protocol import GenerationParameters

HAS_MLX = importlib.util.find_spec("mlx") is not None and importlib.util.find_spec("mlx_lm") is not None
NO_MLX_REASON = "mlx and mlx-lm are not installed (pip install 'lmstream[mlx]')"


def request(seq_id: int, prompt: Sequence[int], cache: Any = None, max_tokens: int = 6,
            **parameters: Any) -> SequenceRequest:
    """A ``SequenceRequest`` for a runner driven directly (its own cancel event and token limit)."""
    return SequenceRequest(seq_id, tuple(prompt), GenerationParameters(max_tokens=max_tokens, **parameters),
                           cache, GenerationControl(threading.Event(), max_tokens=max_tokens))


def run_alone(context: Any, prompt: Sequence[int], *, take: int, cache: Any = None,
                 cancel_after: int | None = None,
                 on_progress: Callable[[int, int], None] | None = None,
                 cancel: threading.Event | None = None,
                 **parameters: Any) -> tuple[list[int], GenerationControl]:
    """Step one sequence alone through a fresh runner, as the scheduler steps a single stream:
    prefill in ``prefill_step_size`` chunks (stopping when ``cancel`` is set between them), then
    take up to ``take`` ids (setting cancel after ``cancel_after``), then remove it."""
    params = GenerationParameters(**parameters)
    event = cancel if cancel is not None else threading.Event()
    limit = params.max_tokens if params.max_tokens is not None else math.inf
    control = GenerationControl(event, on_progress, max_tokens=limit)

    def job() -> list[int]:
        runner = context.backend_model.new_batch_runner()
        runner.add(SequenceRequest(0, tuple(prompt), params, cache, control))
        out: list[int] = []
        try:
            while not runner.prefill(0, params.prefill_step_size):
                if event.is_set():
                    return out
            while len(out) < take and not event.is_set():
                (result,) = runner.step([0])
                if result.error is not None:
                    raise result.error
                out.append(result.token)
                if cancel_after is not None and len(out) >= cancel_after:
                    event.set()
        finally:
            runner.remove(0)
        return out

    return context.worker.call(job), control
