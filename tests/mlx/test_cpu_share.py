"""Work shared with the helper thread (cpu_share.py) computes exactly what the caller computes
alone, and the softmax without its max pass (cpu_attention.SAFE_EXPONENT) stays exact."""

from __future__ import annotations

import threading
from types import SimpleNamespace
from typing import Any

import numpy as np
import pytest

from lmstream_mlx import cpu_attention
from lmstream_mlx.cpu_attention import attend
from lmstream_mlx.cpu_layers import SMALL_ROWS, rows_product
from lmstream_mlx.cpu_share import DOT_ROWS, SHARE_MIN_BYTES, Sharing, share, shared_product

SHAPES = [(3072, 576), (576, 1536), (49152 // 4, 576)]


@pytest.mark.parametrize("rows", [DOT_ROWS + 1, 8, SMALL_ROWS, SMALL_ROWS + 1, 200])
@pytest.mark.parametrize("shape", SHAPES)
def test_a_shared_product_is_the_unshared_one(rows: int, shape: tuple[int, int]) -> None:
    rng = np.random.default_rng(rows)
    weight = rng.standard_normal(shape, dtype=np.float32)
    x = rng.standard_normal((rows, shape[1]), dtype=np.float32)
    got = shared_product(x, weight)
    assert got is not None and got.shape == (rows, shape[0])
    if rows <= SMALL_ROWS:  # the same BLAS calls as unshared: bit-identical
        np.testing.assert_array_equal(got, rows_product(x, weight))
    else:  # a prefill chunk: one GEMM per task instead of one in all
        np.testing.assert_allclose(got, x @ weight.T, rtol=1e-4, atol=1e-3)
    np.testing.assert_array_equal(rows_product(x, weight, shared=Sharing.ALL), got)
    batched = rows_product(x, weight, shared=Sharing.BATCHED)
    np.testing.assert_array_equal(batched, got if rows <= SMALL_ROWS else rows_product(x, weight))


@pytest.mark.parametrize("rows", range(1, DOT_ROWS + 1))
def test_dot_product_rows_stay_with_the_caller(rows: int) -> None:
    """A few rows read memory as fast as both cores do: they are never shared."""
    weight = np.ones((SHARE_MIN_BYTES // 64, 64), dtype=np.float32)
    assert shared_product(np.ones((rows, 64), dtype=np.float32), weight) is None


def test_small_weights_stay_with_the_caller() -> None:
    weight = np.ones((SHARE_MIN_BYTES // (4 * 64) - 1, 64), dtype=np.float32)
    assert shared_product(np.ones((1, 64), dtype=np.float32), weight) is None


def test_share_runs_every_task_once_and_reports_errors() -> None:
    seen: list[int] = []
    lock = threading.Lock()

    def task(i: int) -> None:
        with lock:
            seen.append(i)

    share([lambda i=i: task(i) for i in range(50)])
    assert sorted(seen) == list(range(50))

    def failing() -> None:
        raise ValueError("task failed")

    with pytest.raises(ValueError, match="task failed"):
        share([failing, lambda: None, lambda: None])
    seen.clear()
    share([lambda i=i: task(i) for i in range(5)])  # the helper survived the error
    assert sorted(seen) == list(range(5))


def test_a_second_caller_runs_its_tasks_itself() -> None:
    inside = threading.Event()
    release = threading.Event()
    done: list[str] = []

    def blocking() -> None:
        inside.set()
        release.wait(30)

    first = threading.Thread(target=share, args=([blocking, blocking, blocking],))
    first.start()
    assert inside.wait(30)
    share([lambda: done.append("a"), lambda: done.append("b")])  # helper busy: ran here
    release.set()
    first.join(30)
    assert sorted(done) == ["a", "b"] and not first.is_alive()


def _reference(queries: np.ndarray, keys: np.ndarray, values: np.ndarray, scale: float) -> np.ndarray:
    """Causal grouped-query attention in float64 (the last L of T positions)."""
    heads, length, dim = queries.shape
    kv_heads, total, _ = keys.shape
    repeat = heads // kv_heads
    out = np.empty((length, heads, dim))
    for h in range(heads):
        k, v = keys[h // repeat].astype(np.float64), values[h // repeat].astype(np.float64)
        scores = queries[h].astype(np.float64) @ k.T * scale
        hidden = np.arange(total)[None, :] > (total - length + np.arange(length))[:, None]
        scores[hidden] = -np.inf
        weights = np.exp(scores - scores.max(axis=-1, keepdims=True))
        out[:, h] = (weights / weights.sum(axis=-1, keepdims=True)) @ v
    return out.reshape(length, heads * dim)


@pytest.mark.parametrize("length,total", [(1, 40), (7, 7), (200, 300), (130, 1000)])
@pytest.mark.parametrize("magnitude", [1.0, 40.0])
def test_attention_matches_float64_shared_or_not(length: int, total: int, magnitude: float) -> None:
    """Magnitude 40 gives scores far beyond SAFE_EXPONENT (the max-subtracting pass runs)."""
    rng = np.random.default_rng(total)
    queries = rng.standard_normal((9, length, 64), dtype=np.float32) * np.float32(magnitude)
    keys = rng.standard_normal((3, total, 64), dtype=np.float32)
    values = rng.standard_normal((3, total, 64), dtype=np.float32)
    alone = attend(queries, keys, values, 0.125)
    assert np.isfinite(alone).all()
    np.testing.assert_allclose(alone, _reference(queries, keys, values, 0.125), rtol=1e-4, atol=1e-4)
    np.testing.assert_array_equal(attend(queries, keys, values, 0.125, shared=True), alone)


def test_the_max_pass_is_skipped_only_for_safe_scores() -> None:
    safe = np.array([[1.0, 2.0, -np.inf]], dtype=np.float32)
    cpu_attention._exp_rows(safe)
    np.testing.assert_allclose(safe, np.exp([[1.0, 2.0, -np.inf]]), rtol=1e-6)
    large = np.array([[100.0, 99.0]], dtype=np.float32)
    cpu_attention._exp_rows(large)
    np.testing.assert_allclose(large, np.exp([[0.0, -1.0]]), rtol=1e-6)


def test_a_shared_model_computes_what_the_unshared_one_does(monkeypatch: pytest.MonkeyPatch) -> None:
    """``speed_up(share=True)`` (``MlxOptions.cpu_share``): the same logits in prefill and decode
    to float32 rounding (the prefill chunk's products differ in their last bits, and so the
    cache the decode step reads; the tiny model's weights are made to count as large)."""
    import mlx.core as mx
    from mlx_lm.models.cache import make_prompt_cache

    from lmstream_mlx import cpu_share
    from lmstream_mlx.blas_scope import model_call
    from lmstream_mlx.options import MlxOptions
    from lmstream_mlx.speed import apply_speed_plan, speed_up, usable_cores

    from .test_cpu_blocks import tiny_llama

    monkeypatch.setattr(cpu_share, "SHARE_MIN_BYTES", 1)
    calls: list[int] = []
    real_share = cpu_share.share

    def counting(tasks: list[Any], enabled: bool = True) -> None:
        calls.append(len(tasks) if enabled else 0)
        real_share(tasks, enabled)

    monkeypatch.setattr(cpu_share, "share", counting)
    monkeypatch.setattr(cpu_attention, "share", counting)
    outputs = []
    for shared in (Sharing.OFF, Sharing.BATCHED, Sharing.ALL):
        mx.random.seed(3)
        model = tiny_llama(layers=2)
        plan = speed_up(model, 1, mx.cpu, blas=True, one_row=True, blocks=True, share=shared)
        assert plan.cpu_share is shared
        cache = make_prompt_cache(model)
        with model_call(1, prefill=False):
            prefill = np.array(model(mx.array([[5, 9, 200, 17, 3] * 30]), cache=cache)[0, -1])
            decode = np.array(model(mx.array([[42]]), cache=cache)[0, -1])
        outputs.append((prefill, decode))
        # a 150-token prefill chunk and a one-row step: shared only when everything is
        assert any(calls) is (shared is Sharing.ALL)
        calls.clear()
    for shared_logits, alone_logits in zip(outputs[2], outputs[0], strict=True):
        np.testing.assert_allclose(shared_logits, alone_logits, rtol=1e-4, atol=1e-4)
    for batched_logits, alone_logits in zip(outputs[1], outputs[0], strict=True):
        np.testing.assert_array_equal(batched_logits, alone_logits)
    assert MlxOptions().cpu_share is None
    default = Sharing.BATCHED if usable_cores() >= 2 else Sharing.OFF
    assert apply_speed_plan(tiny_llama(), MlxOptions(), mx.Device(mx.cpu)).cpu_share is default
    assert apply_speed_plan(tiny_llama(), MlxOptions(cpu_share=True), mx.Device(mx.cpu)).cpu_share is Sharing.ALL
    assert apply_speed_plan(tiny_llama(), MlxOptions(cpu_share=False), mx.Device(mx.cpu)).cpu_share is Sharing.OFF
    assert apply_speed_plan(tiny_llama(), MlxOptions(), mx.Device(mx.gpu)).cpu_share is Sharing.OFF


@pytest.mark.parametrize("rows", [1, DOT_ROWS, DOT_ROWS + 1, 8, SMALL_ROWS, SMALL_ROWS + 1, 512])
def test_batched_sharing_takes_batched_steps_only(rows: int) -> None:
    """The default (``cpu_share=None``) shares the products of batched steps, bound by
    arithmetic; one-row steps (memory-bound) and prefill chunks stay with the caller."""
    assert not Sharing.OFF.shares(rows)
    assert Sharing.BATCHED.shares(rows) is (DOT_ROWS < rows <= SMALL_ROWS)
    assert Sharing.ALL.shares(rows) is (rows > DOT_ROWS)
    assert Sharing.ALL.attention and not Sharing.BATCHED.attention and not Sharing.OFF.attention
    from lmstream_mlx.blas_scope import model_call

    with model_call(None, prefill=True, batched=True):  # a call prefilling several prompts
        assert Sharing.BATCHED.shares(rows) is (rows > DOT_ROWS)
        assert not Sharing.OFF.shares(rows)
        with model_call(None, prefill=True):  # a call nested in it is its own
            assert Sharing.BATCHED.shares(rows) is (DOT_ROWS < rows <= SMALL_ROWS)
        assert Sharing.BATCHED.shares(rows) is (rows > DOT_ROWS)
    assert Sharing.BATCHED.shares(rows) is (DOT_ROWS < rows <= SMALL_ROWS)


def test_a_shared_prefill_call_shares_its_products(monkeypatch: pytest.MonkeyPatch) -> None:
    """Under the default sharing, ``prefill_many``'s call (several prompts, bound by arithmetic)
    shares its products; one prompt's prefill does not; the caches match to float32 rounding."""
    import mlx.core as mx

    from lmstream_mlx import cpu_share, prefill_rows
    from lmstream_mlx.cpu_attention import NumpyKVCache
    from lmstream_mlx.speed import speed_up

    from .test_cpu_blocks import tiny_llama

    monkeypatch.setattr(cpu_share, "SHARE_MIN_BYTES", 1)
    calls: list[int] = []
    real_share = cpu_share.share

    def counting(tasks: list[Any], enabled: bool = True) -> None:
        calls.append(len(tasks))
        real_share(tasks, enabled)

    monkeypatch.setattr(cpu_share, "share", counting)
    keys = []
    for shared in (Sharing.OFF, Sharing.BATCHED):
        mx.random.seed(3)
        model = tiny_llama(layers=2)
        speed_up(model, 1, mx.cpu, blas=True, one_row=True, blocks=True, share=shared)
        rows = [SimpleNamespace(cache=SimpleNamespace(layers=[NumpyKVCache() for _ in model.layers], extend=lambda ids: None),
                                setup=SimpleNamespace(record=lambda ids: None)) for _ in range(2)]
        prefill_rows.prefill_together(model, rows, [[5, 9, 200, 17] * 20, [7, 3, 11] * 27])  # type: ignore[arg-type]
        assert bool(calls) is (shared is Sharing.BATCHED)
        calls.clear()
        keys.append([np.array(c._k[:, :c.offset]) for row in rows for c in row.cache.layers])
    for batched, alone in zip(keys[1], keys[0], strict=True):
        np.testing.assert_allclose(batched, alone, rtol=1e-4, atol=1e-4)


@pytest.mark.parametrize("inputs", [576, 1536])
@pytest.mark.parametrize("rows", [2, 8, 16, 24, 48, SMALL_ROWS])
def test_weight_blocks_fit_the_l2_cache_and_the_small_matrix_kernel(inputs: int, rows: int) -> None:
    from lmstream_mlx.cpu_share import BLOCK_BYTES, SMALL_PRODUCT, weight_block

    block = weight_block(inputs, rows)
    assert block * inputs * 4 <= BLOCK_BYTES
    assert block * rows * inputs <= SMALL_PRODUCT
    assert block >= 8
