"""Prefill attention on the mlx backend's CPU path: CPU time per layer against the previous code.

Times ``cpu_attention.attend`` (9 query heads, 3 key/value heads, dim 64: SmolLM2-135M) for a
prefill chunk of ``L`` queries after ``T - L`` cached positions, against the previous
version kept below (``previous``: blocks of 64 queries, a max pass, a sum pass), alternating
``--repeat`` times in one process with CPU time (``time.process_time``: steadier than wall
time on a shared machine; one BLAS thread). Prints the useful GFLOP/s (causal pairs only) and a
float32 GEMM of a prefill chunk's MLP size for scale; ``--shared`` also times the attention
shared with the helper thread (wall time: it only pays with a free second core).

    python benchmarks/mlx_cpu_attention.py [--chunks 16 64 512] [--context 2048] [--repeat 5]
"""

from __future__ import annotations

import argparse
import os
import statistics
import time
from collections.abc import Callable

import numpy as np

from lmstream_mlx.blas_scope import blas_thread_limit
from lmstream_mlx.cpu_attention import attend

HEADS, KV_HEADS, DIM = 9, 3, 64


def previous(queries: np.ndarray, keys: np.ndarray, values: np.ndarray, scale: float) -> np.ndarray:
    """``attend`` for several queries as it was before (for comparison)."""
    heads, length, dim = queries.shape
    kv_heads = keys.shape[0]
    grouped = (queries * np.float32(scale)).reshape(kv_heads, heads // kv_heads * length, dim)
    repeat, offset = heads // kv_heads, keys.shape[1] - length
    by_position = grouped.reshape(kv_heads, repeat, length, dim)
    out = np.empty((kv_heads, repeat, length, dim), dtype=np.float32)
    for start in range(0, length, 64):
        end = min(start + 64, length)
        size, visible = end - start, offset + end
        block = by_position[:, :, start:end].reshape(kv_heads, repeat * size, dim)
        scores: np.ndarray = np.matmul(block, keys[:, :visible].transpose(0, 2, 1))
        scores.reshape(kv_heads, repeat, size, visible)[..., offset + start:] += np.triu(
            np.full((size, size), -np.inf, dtype=np.float32), 1)
        scores -= scores.max(axis=-1, keepdims=True)
        np.exp(scores, out=scores)
        sums = scores.sum(axis=-1, keepdims=True)
        result = np.matmul(scores, values[:, :visible])
        result /= sums
        out[:, :, start:end] = result.reshape(kv_heads, repeat, size, dim)
    return out.reshape(heads, length, dim).transpose(1, 0, 2).reshape(length, heads * dim)


def seconds(work: Callable[[], object], clock: Callable[[], float]) -> float:
    start = clock()
    work()
    return clock() - start


def compare(rng: np.random.Generator, length: int, total: int, repeat: int, shared: bool) -> None:
    """Time the sides for one chunk of ``length`` queries over ``total`` positions; print medians."""
    queries = rng.standard_normal((HEADS, length, DIM), dtype=np.float32)
    keys = rng.standard_normal((KV_HEADS, total + 256, DIM), dtype=np.float32)[:, :total]
    values = rng.standard_normal((KV_HEADS, total + 256, DIM), dtype=np.float32)[:, :total]
    np.testing.assert_allclose(attend(queries, keys, values, 0.125),
                               previous(queries, keys, values, 0.125), rtol=1e-4, atol=1e-5)
    sides: dict[str, tuple[Callable[[], object], Callable[[], float]]] = {
        "previous": (lambda: previous(queries, keys, values, 0.125), time.process_time),
        "current": (lambda: attend(queries, keys, values, 0.125), time.process_time)}
    if shared:
        sides["current, wall"] = (lambda: attend(queries, keys, values, 0.125), time.perf_counter)
        sides["shared, wall"] = (lambda: attend(queries, keys, values, 0.125, True), time.perf_counter)
    times: dict[str, list[float]] = {name: [] for name in sides}
    for _ in range(repeat):
        for name, (work, clock) in sides.items():
            times[name].append(seconds(work, clock))
    flops = (length * (total - length) + length * (length + 1) / 2) * HEADS * DIM * 4  # causal pairs
    cells = ", ".join(f"{name} {statistics.median(t) * 1e3:.2f} ms ({flops / statistics.median(t) / 1e9:.0f} GFLOP/s)"
                      for name, t in times.items())
    print(f"L={length} T={total}: {cells}")


def main() -> None:
    """Alternate previous / current (/ shared) per chunk size; print medians."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--chunks", type=int, nargs="*", default=[16, 64, 512])
    parser.add_argument("--context", type=int, default=2048, help="T: positions attended, the chunk's included")
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--shared", action="store_true")
    args = parser.parse_args()
    rng = np.random.default_rng(0)
    total = args.context
    print(f"load {' '.join(f'{x:.1f}' for x in os.getloadavg())} on {os.cpu_count()} cores")
    with blas_thread_limit(1):
        weight = rng.standard_normal((3072, 576), dtype=np.float32)
        x = rng.standard_normal((512, 576), dtype=np.float32)
        took = min(seconds(lambda: x @ weight.T, time.process_time) for _ in range(5))
        print(f"GEMM 512x576 @ 576x3072 (a chunk's gate/up): {2 * 512 * 576 * 3072 / took / 1e9:.0f} GFLOP/s")
        for length in args.chunks:
            compare(rng, length, total, args.repeat, args.shared)
    print(f"load {' '.join(f'{x:.1f}' for x in os.getloadavg())}")


if __name__ == "__main__":
    main()
