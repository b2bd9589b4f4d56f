"""The few-row products of a decode step (``cpu_share.dot_rows``): right, shaped as ``x @ W.T``,
and the path ``rows_product`` takes for up to ``DOT_ROWS`` rows."""

from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from lmstream_mlx.cpu_layers import rows_product
from lmstream_mlx.cpu_share import DOT_ROWS, dot_rows


@settings(max_examples=40, deadline=None)
@given(rows=st.integers(1, DOT_ROWS), outputs=st.integers(1, 300), inputs=st.integers(1, 200),
       seed=st.integers(0, 2**32 - 1), scale=st.sampled_from([1e-3, 1.0, 1e3]))
def test_dot_rows_is_x_times_w_transposed(rows: int, outputs: int, inputs: int, seed: int, scale: float) -> None:
    rng = np.random.default_rng(seed)
    weight = (rng.standard_normal((outputs, inputs)) * scale).astype(np.float32)
    x = rng.standard_normal((rows, inputs)).astype(np.float32)
    got = dot_rows(x, weight)
    assert got.shape == (rows, outputs) and got.dtype == np.float32 and got.flags.c_contiguous
    exact = x.astype(np.float64) @ weight.astype(np.float64).T
    bound = 1e-5 * (np.abs(x).astype(np.float64) @ np.abs(weight).astype(np.float64).T) + 1e-30
    assert np.all(np.abs(got - exact) <= bound)


def test_rows_product_takes_dot_products_up_to_dot_rows() -> None:
    rng = np.random.default_rng(7)
    weight = rng.standard_normal((3072, 576), dtype=np.float32)
    for rows in range(1, DOT_ROWS + 2):
        x = rng.standard_normal((rows, 576), dtype=np.float32)
        got = rows_product(x, weight)
        if rows <= DOT_ROWS:
            np.testing.assert_array_equal(got, dot_rows(x, weight))
        np.testing.assert_allclose(got, x @ weight.T, rtol=1e-4, atol=1e-3)
    one = rng.standard_normal((1, 576), dtype=np.float32)
    np.testing.assert_array_equal(rows_product(one, weight)[0], np.vecdot(weight, one[0]))


def test_verify_costs_follow_the_numpy_path_calls() -> None:
    """One call per few positions (dot products) costs about a plain step; a GEMM call about
    twice that: a lone row's verification of one draft is cheap, of several is not."""
    from lmstream_mlx.verify import DOT_CALL_COSTS, _plan, call_cost, verify_cost

    assert len(DOT_CALL_COSTS) == DOT_ROWS
    costs = [call_cost(n) for n in range(1, 64)]
    assert costs == sorted(costs) and costs[0] == 11
    assert verify_cost([1], own_caches=True) == 12 and verify_cost([4], own_caches=True) >= 2 * 11
    assert verify_cost([4], own_caches=False) == 15  # mlx-lm caches: the old linear rule
    assert _plan([0] * 7 + [4]) != "padded"  # a plain 7-row step and one lone 5-position call
    assert verify_cost([0] * 8, own_caches=True) == call_cost(8)
