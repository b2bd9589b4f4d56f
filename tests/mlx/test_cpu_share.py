"""Work shared with the helper thread (cpu_share.py) computes exactly what the caller computes
alone, and the softmax without its max pass (cpu_attention.SAFE_EXPONENT) stays exact."""

from __future__ import annotations

import threading

import numpy as np
import pytest

from lmstream_mlx import cpu_attention
from lmstream_mlx.cpu_attention import attend
from lmstream_mlx.cpu_layers import SMALL_ROWS, rows_product
from lmstream_mlx.cpu_share import SHARE_MIN_BYTES, share, shared_product

SHAPES = [(3072, 576), (576, 1536), (49152 // 4, 576)]


@pytest.mark.parametrize("rows", [1, 2, 8, SMALL_ROWS, SMALL_ROWS + 1, 200])
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
    np.testing.assert_array_equal(rows_product(x, weight, shared=True), got)


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
