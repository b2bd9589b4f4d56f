"""The last finished sequence's cells stay warm: the next turn on the same saved entries takes
them as they are (no ``llama_state_seq_set_data``), with exactly the tokens the restore path
gives; any other sequence frees them first. Driven through the runner as the scheduler does.

Slow: real decoding on the default model (a few tokens per sequence).
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from typing import Any

import pytest

from lmstream.model import GenerationControl, SequenceRequest
from lmstream.protocol import GenerationParameters
from lmstream_llama_cpp.runner import LlamaCppBatchRunner

pytestmark = pytest.mark.slow

TEXT = "You are a careful assistant. Answer in one short sentence. " * 6


def request(seq_id: int, prompt: Sequence[int], cache: Any = None) -> SequenceRequest:
    """A greedy SequenceRequest as the scheduler makes it."""
    return SequenceRequest(seq_id, tuple(prompt), GenerationParameters(), cache,
                           GenerationControl(threading.Event(), max_tokens=1_000_000))


def on_worker(context: Any, job: Callable[[], Any]) -> Any:
    return context.worker.call(job)


class Counting:
    """Counts the engine's restores from bytes (the path the warm slot skips)."""

    def __init__(self, engine: Any, monkeypatch: pytest.MonkeyPatch) -> None:
        self.restores = 0
        real = engine.restore

        def restore(*args: Any) -> bool:
            self.restores += 1
            return bool(real(*args))

        monkeypatch.setattr(engine, "restore", restore)


def turn(runner: LlamaCppBatchRunner, seq_id: int, prompt: Sequence[int], cache: Any,
         steps: int = 4) -> tuple[list[int], int]:
    """One generation of ``steps`` tokens on ``cache``: (tokens, prompt tokens reused)."""
    req = request(seq_id, prompt, cache)
    runner.add(req)
    try:
        while not runner.prefill(seq_id, 512):
            pass
        tokens = [runner.step([seq_id])[0].token for _ in range(steps)]
    finally:
        runner.remove(seq_id)
    return [t for t in tokens if t is not None], req.control.cached_prompt_tokens


def test_the_next_turn_takes_the_warm_cells_and_equals_the_restore_path(
        llama_context: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    model = llama_context.backend_model
    engine = model.engine
    counting = Counting(engine, monkeypatch)
    base = llama_context.tokenizer.encode(TEXT)
    other = llama_context.tokenizer.encode("An unrelated question about rivers?")

    def conversation(interrupt: bool) -> tuple[list[int], int, int]:
        runner = LlamaCppBatchRunner(engine)
        cache = model.new_cache()
        first, _ = turn(runner, 1, base, cache)
        if interrupt:  # another request between the turns: the warm cells are freed
            turn(runner, 2, other, None, steps=1)
        before = counting.restores
        second, reused = turn(runner, 3, base + first + base[:5], cache)
        assert engine.busy_slots == 0 and engine.used_cells == 0
        return second, reused, counting.restores - before

    warm, warm_reused, warm_restores = on_worker(llama_context, lambda: conversation(False))
    cold, cold_reused, cold_restores = on_worker(llama_context, lambda: conversation(True))
    assert warm_restores == 0 and cold_restores == 1
    assert warm_reused == cold_reused >= len(base)
    assert warm == cold  # the same cells: the same numbers


def test_an_unrelated_or_concurrent_sequence_never_sees_warm_cells(
        llama_context: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    model = llama_context.backend_model
    engine = model.engine
    counting = Counting(engine, monkeypatch)
    prompt = llama_context.tokenizer.encode(TEXT)

    def job() -> tuple[int, int, int]:
        runner = LlamaCppBatchRunner(engine)
        cache = model.new_cache()
        turn(runner, 1, prompt, cache)
        # a sequence without the cache's entries gets an empty slot (the warm one is freed)
        runner.add(request(2, prompt[:8]))
        held_by_other = engine.held(runner._seqs[2].slot)
        runner.remove(2)
        # two running sequences: the first to finish does not stay warm
        runner.add(request(3, prompt, cache))  # restored from bytes (restore 1)
        runner.add(request(4, prompt[:8]))
        runner.remove(3)
        runner.add(request(5, prompt, cache))  # restored from bytes again (restore 2)
        reused = runner._seqs[5].cached
        for seq_id in (4, 5):
            runner.remove(seq_id)
        return held_by_other, reused, counting.restores

    held_by_other, reused, restores = on_worker(llama_context, job)
    assert held_by_other == 0
    assert reused == len(prompt) - 1 and restores == 2
