"""Prefill chunks that stop between decoder layers (``BatchRunner.interrupt``, prefill_layers.py).

On the numpy layers the MLX runner computes a chunk layer by layer and stops after a layer when
the scheduler's ``interrupt`` says so; the next ``prefill`` of that sequence goes on at the next
layer. Stopping changes no arithmetic (the same numpy calls in the same order), so the caches
and the tokens are bit-identical to an unstopped prefill; a sequence removed part-way leaves its
prompt cache holding exactly the ids it lists; ``prefill_many`` finishes a stopped chunk rather
than feeding its ids again.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

pytest.importorskip("mlx")
pytest.importorskip("mlx_lm")

import numpy as np
from helpers import request as _request
from helpers import run_alone

from lmstream_mlx.prefill_layers import LayerPrefill

VOCAB = 268
prompts = st.lists(st.integers(3, VOCAB - 1), min_size=2, max_size=40)


def _pattern(stops: list[bool], answers: list[bool] | None = None) -> Callable[[], bool]:
    """An interrupt answering ``stops`` in turn (cycling), recording its answers."""
    cycle: Iterator[bool] = itertools.cycle(stops or [False])

    def interrupt() -> bool:
        answer = next(cycle)
        if answers is not None:
            answers.append(answer)
        return answer
    return interrupt


def _prefill_and_take(context: Any, prompt: list[int], chunk: int, stops: list[bool],
                      take: int = 5, answers: list[bool] | None = None,
                      ) -> tuple[list[int], int, list[np.ndarray]]:
    """On the worker: prefill in ``chunk``-id chunks, ``interrupt`` answering ``stops`` in turn;
    returns the greedy tokens, how many calls stopped part-way, and every layer's keys."""

    def job() -> tuple[list[int], int, list[np.ndarray]]:
        runner = context.backend_model.new_batch_runner()
        runner.interrupt = _pattern(stops, answers)
        runner.add(_request(0, prompt))
        stopped = 0
        before = 0
        while not runner.prefill(0, chunk):
            progress = runner._rows[0].request.control.progress_tokens or 0
            stopped += progress == before
            before = progress
            assert stopped < 10_000
        out = [runner.step([0])[0].token for _ in range(take)]
        keys = [np.array(c._k[:, :c.offset]) for c in runner._rows[0].cache.layers]
        runner.remove(0)
        return out, stopped, keys

    result: tuple[list[int], int, list[np.ndarray]] = context.worker.call(job)
    return result


def test_the_default_cpu_path_prefills_layer_by_layer(tiny_context: Any) -> None:
    def job() -> bool:
        runner = context.backend_model.new_batch_runner()
        runner.add(_request(0, [5, 6, 7, 8]))
        try:
            return LayerPrefill.fits(runner._rows[0].setup)
        finally:
            runner.remove(0)

    context = tiny_context
    assert context.worker.call(job)


@settings(max_examples=20, deadline=None)
@given(prompt=prompts, chunk=st.integers(1, 16), stops=st.lists(st.booleans(), max_size=6))
def test_stopping_between_layers_changes_no_bit(tiny_context: Any, prompt: list[int], chunk: int,
                                                stops: list[bool]) -> None:
    plain, _, plain_keys = _prefill_and_take(tiny_context, prompt, chunk, [False])
    answers: list[bool] = []
    stopped_out, stopped, keys = _prefill_and_take(tiny_context, prompt, chunk, stops, answers=answers)
    assert stopped_out == plain
    assert all(np.array_equal(a, b) for a, b in zip(keys, plain_keys, strict=True))
    # the tiny model has two layers: one question per chunk (and per resumed part), after layer 1
    chunks = -(-(len(prompt) - 1) // chunk)
    assert len(answers) == chunks
    assert stopped == sum(answers)


def test_a_stop_comes_only_after_a_layer_of_the_call(tiny_context: Any) -> None:
    # interrupt always true: each call computes exactly one layer, so every call progresses
    out, stopped, _ = _prefill_and_take(tiny_context, list(range(10, 30)), 8, [True])
    plain, _, _ = _prefill_and_take(tiny_context, list(range(10, 30)), 8, [False])
    assert out == plain
    assert stopped == 3  # 19 ids to prefill: chunks of 8, 8, 3, each stopped once (2 layers)


def test_a_sequence_removed_part_way_leaves_its_cache_consistent(tiny_context: Any) -> None:
    context = tiny_context
    prompt = list(range(40, 70))
    cache = context.new_cache()

    def job() -> None:
        runner = context.backend_model.new_batch_runner()
        runner.interrupt = lambda: True
        runner.add(_request(0, prompt, cache))
        while (runner._rows[0].request.control.progress_tokens or 0) < 8:
            runner.prefill(0, 8)
        assert not runner.prefill(0, 8)  # the second chunk stops after its first layer
        assert runner._rows[0].partial is not None
        runner.remove(0)

    context.worker.call(job)
    assert cache.tokens == prompt[:8]
    assert all(layer.offset == 8 for layer in cache.layers)
    fresh, _ = run_alone(context, prompt, take=4)
    reused, control = run_alone(context, prompt, take=4, cache=cache)
    assert control.cached_prompt_tokens == 8
    assert reused == fresh


def test_prefill_many_finishes_a_stopped_chunk_before_sharing(tiny_context: Any) -> None:
    context = tiny_context
    long, short = list(range(100, 130)), [7, 8, 9, 10, 11, 12]

    def job() -> list[list[int]]:
        runner = context.backend_model.new_batch_runner()
        runner.interrupt = lambda: True
        runner.add(_request(0, long))
        assert not runner.prefill(0, 20)  # stopped after the first layer
        runner.add(_request(1, short))
        runner.interrupt = None
        while not all(runner.prefill_many([0, 1], [20, 20])):
            pass
        outs = [[r.token for r in runner.step([0, 1])] for _ in range(4)]
        for seq_id in (0, 1):
            row = runner._rows[seq_id]
            assert all(c.offset == len(row.cache.tokens) for c in row.cache.layers)
            runner.remove(seq_id)
        return [[o[k] for o in outs] for k in (0, 1)]

    together = context.worker.call(job)
    assert together[0] == run_alone(context, long, take=4)[0]
    assert together[1] == run_alone(context, short, take=4)[0]


def test_other_caches_prefill_in_one_model_call(tiny_context: Any, tiny_exact_context: Any) -> None:
    def fits(context: Any, **parameters: Any) -> bool:
        def job() -> bool:
            runner = context.backend_model.new_batch_runner()
            runner.add(_request(0, [5, 6, 7, 8], **parameters))
            try:
                return LayerPrefill.fits(runner._rows[0].setup)
            finally:
                runner.remove(0)
        result: bool = context.worker.call(job)
        return result

    assert not fits(tiny_context, kv_bits=8)
    assert not fits(tiny_context, max_kv_size=16)
    assert not fits(tiny_exact_context)  # mlx's own kernels: no numpy layers


def test_an_interrupt_that_fails_reaches_the_caller(tiny_context: Any) -> None:
    def boom() -> bool:
        raise RuntimeError("interrupt failed")

    def job() -> None:
        runner = context.backend_model.new_batch_runner()
        runner.interrupt = boom
        runner.add(_request(0, list(range(20, 40))))
        try:
            with pytest.raises(RuntimeError, match="interrupt failed"):
                runner.prefill(0, 10)
        finally:
            runner.remove(0)
            assert runner._rows == {}

    context = tiny_context
    context.worker.call(job)
