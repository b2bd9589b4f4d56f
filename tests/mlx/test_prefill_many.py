"""MlxBatchRunner.prefill_many: short prompts of similar length prefilled in one model call.

On the numpy decoder layers (the default CPU path) the rows of a call keep their own caches
and store only their real ids: the caches hold what prefilling each prompt alone leaves (to
float32 rounding: a multi-row product rounds differently), and an error in the shared call
leaves them as they were. On mlx's own kernels (``blas=False``) every row is prefilled alone,
so tokens match exactly.
"""

from __future__ import annotations

import threading
from typing import Any

import pytest

pytest.importorskip("mlx")
pytest.importorskip("mlx_lm")

import numpy as np
from helpers import request, run_alone

from lmstream.model import GenerationControl, SequenceRequest
from lmstream.protocol import GenerationParameters
from lmstream_mlx.prefill_rows import PREFILL_CALL_POSITIONS, groups

PROMPTS = [[30, 31, 32, 33, 34, 35], [40, 41, 42, 43, 44], [50, 51, 52, 53, 54, 55, 56], [60, 61]]


def test_prompts_share_a_call_only_when_their_padding_costs_less_than_a_call():
    assert groups([40, 42, 39, 41]) == [[2, 0, 3, 1]]
    assert groups([40, 80, 42, 79]) == [[0, 2], [3, 1]]
    assert groups([10, 10 + PREFILL_CALL_POSITIONS + 1]) == [[0], [1]]
    assert groups([]) == []


def _add(runner: Any, prompts: list[list[int]]) -> None:
    for i, prompt in enumerate(prompts):
        runner.add(request(i, prompt, max_tokens=4))


def _caches(runner: Any, count: int) -> list[list[tuple[np.ndarray, np.ndarray]]]:
    return [[(np.array(c.keys[..., :c.offset, :]), np.array(c.values[..., :c.offset, :]))
             for c in runner._rows[i].cache.layers] for i in range(count)]


def _assert_same_prefix(shared: list[list[tuple[np.ndarray, np.ndarray]]],
                        alone: list[list[tuple[np.ndarray, np.ndarray]]]) -> None:
    """Rows prefilled together hold what each prefilled alone holds, to float32 rounding. Alone,
    the last chunk also feeds the prompt's last id (sampling the first token from it); a shared
    call leaves that id to the first step: one entry less."""
    for row_shared, row_alone in zip(shared, alone, strict=True):
        for (k1, v1), (k2, v2) in zip(row_shared, row_alone, strict=True):
            length = k1.shape[-2]
            assert k2.shape[-2] == length + 1 and k1.shape[:-2] == k2.shape[:-2]
            np.testing.assert_allclose(k1, k2[..., :length, :], atol=2e-3)
            np.testing.assert_allclose(v1, v2[..., :length, :], atol=2e-3)


def test_rows_prefilled_together_hold_what_each_alone_holds(tiny_context: Any) -> None:
    def job() -> tuple[Any, Any, list[bool], list[list[int]], list[int]]:
        together = tiny_context.backend_model.new_batch_runner()
        _add(together, PROMPTS)
        ready = together.prefill_many(list(range(len(PROMPTS))), [512] * len(PROMPTS))
        alone = tiny_context.backend_model.new_batch_runner()
        _add(alone, PROMPTS)
        for i in range(len(PROMPTS)):
            assert alone.prefill(i, 512)
        held = (_caches(together, len(PROMPTS)), _caches(alone, len(PROMPTS)))
        tokens = [[int(r.token) for r in together.step(list(range(len(PROMPTS))))] for _ in range(3)]
        offsets = [together._rows[i].cache.tokens for i in range(len(PROMPTS))]
        together.close()
        alone.close()
        return held[0], held[1], ready, tokens, [len(o) for o in offsets]

    shared, alone, ready, tokens, held_ids = tiny_context.worker.call(job)
    assert ready == [True] * len(PROMPTS)
    _assert_same_prefix(shared, alone)
    assert held_ids == [len(p) + 2 for p in PROMPTS]  # the prompt and the ids fed after it
    solo = [run_alone(tiny_context, p, take=3)[0] for p in PROMPTS]
    by_row = [[step[i] for step in tokens] for i in range(len(PROMPTS))]
    assert sum(a == b for a, b in zip(by_row, solo, strict=True)) >= 3


def test_a_shared_call_counts_as_one_model_call_per_group(tiny_context: Any) -> None:
    calls: list[tuple[int, ...]] = []

    def job() -> list[bool]:
        runner = tiny_context.backend_model.new_batch_runner()
        _add(runner, PROMPTS)
        model = runner._model
        base = type(model)

        class Counting(base):  # type: ignore[misc, valid-type]
            def __call__(self, inputs: Any, *args: Any, **kwargs: Any) -> Any:
                calls.append(tuple(inputs.shape))
                return base.__call__(self, inputs, *args, **kwargs)

        model.__class__ = Counting
        try:
            return runner.prefill_many(list(range(len(PROMPTS))), [512] * len(PROMPTS))  # type: ignore[no-any-return]
        finally:
            model.__class__ = base
            runner.close()

    assert tiny_context.worker.call(job) == [True] * len(PROMPTS)
    assert calls == [(4, 6)]  # one call; each row fed all but its prompt's last id


def test_an_error_in_the_shared_call_leaves_the_caches_as_they_were(tiny_context: Any) -> None:
    def job() -> tuple[list[int], list[int], list[bool]]:
        runner = tiny_context.backend_model.new_batch_runner()
        _add(runner, PROMPTS)
        assert runner.prefill(0, 2) is False  # two ids in before the shared call
        model = runner._model
        base = type(model)

        class Failing(base):  # type: ignore[misc, valid-type]
            def __call__(self, inputs: Any, cache: Any = None, **kwargs: Any) -> Any:
                base.__call__(self, inputs, cache=cache)  # every layer wrote, then it fails
                raise RuntimeError("out of memory")

        model.__class__ = Failing
        try:
            with pytest.raises(RuntimeError, match="out of memory"):
                runner.prefill_many(list(range(len(PROMPTS))), [512] * len(PROMPTS))
        finally:
            model.__class__ = base
        offsets = [runner._rows[i].cache.layers[0].offset for i in range(len(PROMPTS))]
        ids = [len(runner._rows[i].cache.tokens) for i in range(len(PROMPTS))]
        ready = [runner.prefill(i, 512) for i in range(len(PROMPTS))]
        runner.close()
        return offsets, ids, ready

    offsets, ids, ready = tiny_context.worker.call(job)
    assert offsets == [2, 0, 0, 0] and ids == [2, 0, 0, 0]
    assert ready == [True] * len(PROMPTS)


def test_on_mlx_kernels_every_row_is_prefilled_alone_and_decodes_exactly(tiny_exact_context: Any) -> None:
    def job() -> list[list[int]]:
        runner = tiny_exact_context.backend_model.new_batch_runner()
        _add(runner, PROMPTS)
        assert runner.prefill_many(list(range(len(PROMPTS))), [512] * len(PROMPTS)) == [True] * len(PROMPTS)
        tokens = [[int(r.token) for r in runner.step(list(range(len(PROMPTS))))] for _ in range(3)]
        runner.close()
        return [[step[i] for step in tokens] for i in range(len(PROMPTS))]

    by_row = tiny_exact_context.worker.call(job)
    assert by_row == [run_alone(tiny_exact_context, p, take=3)[0] for p in PROMPTS]


def test_a_row_with_a_cached_prefix_shares_a_call_at_its_own_positions(tiny_context: Any) -> None:
    # Row 0 reuses 4 cached ids of its prompt (a prefix-cache fork, a chat session's next turn):
    # its new keys sit at positions 4.., the fresh row's at 0.., in the same call.
    prompt, fresh = [30, 31, 32, 33, 34, 35, 36, 37], [40, 41, 42, 43, 44]

    def cached() -> Any:
        cache = tiny_context.new_cache()
        run_alone(tiny_context, prompt[:4], take=1, cache=cache)
        return cache

    def job(shared: bool) -> list[list[tuple[np.ndarray, np.ndarray]]]:
        runner = tiny_context.backend_model.new_batch_runner()
        for i, (ids, cache) in enumerate([(prompt, caches[shared]), (fresh, None)]):
            runner.add(SequenceRequest(i, tuple(ids), GenerationParameters(max_tokens=4), cache,
                                       GenerationControl(threading.Event(), max_tokens=4)))
        assert runner._rows[0].cached == 4
        if shared:
            assert runner.prefill_many([0, 1], [512, 512]) == [True, True]
        else:
            assert runner.prefill(0, 512) and runner.prefill(1, 512)
        held = _caches(runner, 2)
        runner.close()
        return held

    caches = {True: cached(), False: cached()}
    together = tiny_context.worker.call(lambda: job(True))
    alone = tiny_context.worker.call(lambda: job(False))
    _assert_same_prefix(together, alone)
    assert [layers[0][0].shape[-2] for layers in together] == [len(prompt) - 1, len(fresh) - 1]
