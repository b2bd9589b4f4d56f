"""Per-op timings behind the mlx backend's CPU paths: mlx's kernels against numpy's BLAS.

For the default model's shapes (SmolLM2-135M: hidden 576, MLP 1536, 9 query heads over 3
key/value heads of dim 64, a 49,152-row tied output head) it times, alternating the two
sides in one process and reporting medians and the ratio mlx / numpy (> 1: numpy wins):

- one-row products (a decode step's projections and the output head): mlx's 4-bit
  ``quantized_matmul`` against a numpy float32 GEMV, with 1 and 2 OpenBLAS threads;
- 512-row products (a prefill chunk);
- attention: ``mx.fast.scaled_dot_product_attention`` against the numpy attention the
  backend uses (``lmstream_mlx.cpu_attention.attend``), for a decode step over 2,048 keys
  and a 512-query prefill chunk over 2,048 keys;
- the hand-over costs: ``np.asarray`` of an evaluated mlx array and ``mx.array`` of a numpy one;
- with ``--rows 1,2,3,4,8``: a whole decode step's products (the 30 layers' fused Q/K/V, output,
  gate/up and down projections and the output head, float32, one BLAS thread) for each row
  count, through ``x @ W.T`` (OpenBLAS's GEMV for one row), the L2-sized blocks
  (``cpu_layers.block_product``) and dot products (``cpu_share.dot_rows``), alternating.

    python benchmarks/mlx_cpu_products.py [--repeats 15] [--rows 1,2,3,4,8]
"""

from __future__ import annotations

import argparse
import os
import statistics
import time
from collections.abc import Callable

import mlx.core as mx
import numpy as np
from threadpoolctl import ThreadpoolController

from lmstream_mlx.cpu_attention import attend
from lmstream_mlx.cpu_layers import block_product
from lmstream_mlx.cpu_share import dot_rows

BLAS = ThreadpoolController().select(user_api="blas")

HIDDEN, MLP, HEADS, KV_HEADS, HEAD_DIM, VOCAB = 576, 1536, 9, 3, 64, 49152


def median_ms(fn: Callable[[], object], repeats: int, threads: int = 1) -> float:
    """Median wall time of ``fn`` in milliseconds (one warm-up call first), numpy's BLAS limited
    to ``threads`` (set once around the loop: setting it costs ~40 us)."""
    with BLAS.limit(limits=threads):
        return _median_ms(fn, repeats)


def _median_ms(fn: Callable[[], object], repeats: int) -> float:
    fn()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times) * 1e3


def alternate(first: Callable[[], object], second: Callable[[], object], repeats: int) -> tuple[float, float, float]:
    """Medians of ``first``, ``second`` (1 BLAS thread) and ``second`` (2 threads), measured in
    alternating rounds (load hits all alike)."""
    a: list[float] = []
    b: list[float] = []
    c: list[float] = []
    for _ in range(3):
        a.append(median_ms(first, repeats))
        b.append(median_ms(second, repeats, threads=1))
        c.append(median_ms(second, repeats, threads=2))
    return statistics.median(a), statistics.median(b), statistics.median(c)


def products(repeats: int) -> list[tuple[str, float, float, float]]:
    """(label, mlx ms, numpy 1-thread ms, numpy 2-thread ms) for one- and many-row products."""
    rows = []
    for label, out_dim, in_dim, n in (("decode q/o 576x576", HIDDEN, HIDDEN, 1),
                                      ("decode gate/up 1536x576", MLP, HIDDEN, 1),
                                      ("decode down 576x1536", HIDDEN, MLP, 1),
                                      ("decode head 49152x576", VOCAB, HIDDEN, 1),
                                      ("prefill gate 512x(1536x576)", MLP, HIDDEN, 512)):
        w = mx.random.normal((out_dim, in_dim)).astype(mx.float16)
        wq, scales, biases = mx.quantize(w, group_size=32, bits=4)
        x = mx.random.normal((n, in_dim))  # float32 activations, as the GGUF models compute
        mx.eval(wq, scales, biases, x)
        dense = np.array(mx.dequantize(wq, scales, biases, group_size=32, bits=4).astype(mx.float32))
        xn = np.array(x.astype(mx.float32))

        def mlx_side(x: mx.array = x, wq: mx.array = wq, scales: mx.array = scales,
                     biases: mx.array = biases) -> None:
            mx.eval(mx.quantized_matmul(x, wq, scales, biases, transpose=True, group_size=32, bits=4))

        def numpy_side(xn: np.ndarray = xn, dense: np.ndarray = dense) -> None:
            xn @ dense.T

        rows.append((label, *alternate(mlx_side, numpy_side, repeats)))
    return rows


def attention(repeats: int) -> list[tuple[str, float, float, float]]:
    """(label, mlx sdpa ms, numpy 1-thread ms, numpy 2-thread ms) for decode and prefill attention."""
    rows = []
    keys = 2048
    for label, queries in (("attention decode 1 x 2048 keys", 1), ("attention prefill 512 x 2048 keys", 512)):
        q = mx.random.normal((1, HEADS, queries, HEAD_DIM))
        k = mx.random.normal((1, KV_HEADS, keys, HEAD_DIM))
        v = mx.random.normal((1, KV_HEADS, keys, HEAD_DIM))
        mx.eval(q, k, v)
        qn, kn, vn = (np.array(a[0]) for a in (q, k, v))
        mask = "causal" if queries > 1 else None

        def mlx_side(q: mx.array = q, k: mx.array = k, v: mx.array = v, mask: str | None = mask) -> None:
            mx.eval(mx.fast.scaled_dot_product_attention(q, k, v, scale=HEAD_DIM**-0.5, mask=mask))

        def numpy_side(qn: np.ndarray = qn, kn: np.ndarray = kn, vn: np.ndarray = vn) -> None:
            attend(qn, kn, vn, HEAD_DIM**-0.5)

        rows.append((label, *alternate(mlx_side, numpy_side, max(repeats // 5, 2) if queries > 1 else repeats)))
    return rows


STEP_SHAPES = ((960, HIDDEN, 30), (HIDDEN, HIDDEN, 30), (2 * MLP, HIDDEN, 30), (HIDDEN, MLP, 30), (VOCAB, HIDDEN, 1))
"""(outputs, inputs, count) of a decode step's products: fused Q/K/V, output, fused gate/up,
down (30 layers each) and the tied output head."""


def step_products(row_counts: list[int], repeats: int) -> list[tuple[int, float, float, float]]:
    """(rows, ms through ``x @ W.T``, ms through blocks, ms through dot products) of a decode
    step's products, each kernel in turn per round (medians of 3 rounds)."""
    rng = np.random.default_rng(0)
    weights = [[rng.standard_normal((o, i), dtype=np.float32) for _ in range(n)] for o, i, n in STEP_SHAPES]
    result = []
    for rows in row_counts:
        xs = [rng.standard_normal((rows, i), dtype=np.float32) for _, i, _ in STEP_SHAPES]
        kernels: list[Callable[[np.ndarray, np.ndarray], object]] = [
            lambda x, w: x @ w.T, block_product, dot_rows]
        times: list[list[float]] = [[], [], []]
        for _ in range(3):
            for k, kernel in enumerate(kernels):
                def step(kernel: Callable[[np.ndarray, np.ndarray], object] = kernel,
                         xs: list[np.ndarray] = xs) -> None:
                    for x, group in zip(xs, weights, strict=True):
                        for w in group:
                            kernel(x, w)
                times[k].append(median_ms(step, max(repeats // 5, 2)))
        plain, blocks, dots = (statistics.median(t) for t in times)
        result.append((rows, plain, blocks, dots))
    return result


def hand_over(repeats: int) -> list[tuple[str, float]]:
    """Costs of moving a decode-sized and a prefill-sized activation between mlx and numpy."""
    rows = []
    for n in (1, 512):
        a = mx.random.normal((n, HIDDEN))
        mx.eval(a)
        b = np.random.default_rng(0).standard_normal((n, HIDDEN), dtype=np.float32)
        rows.append((f"np.asarray(mx array {n}x{HIDDEN})", median_ms(lambda a=a: np.asarray(a), repeats * 20)))
        rows.append((f"mx.array(np array {n}x{HIDDEN}) + eval",
                     median_ms(lambda b=b: mx.eval(mx.array(b)), repeats * 20)))
        rows.append((f"mx.eval(x + 1) {n}x{HIDDEN}", median_ms(lambda a=a: mx.eval(a + 1), repeats * 20)))
    return rows


def main() -> None:
    """Print the tables (medians in ms, ratio mlx / numpy 1 thread)."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeats", type=int, default=15)
    parser.add_argument("--rows", default="", help="row counts of the decode-step product table (e.g. 1,2,3,4,8)")
    args = parser.parse_args()
    mx.set_default_device(mx.cpu)
    print(f"load: {' '.join(f'{x:.1f}' for x in os.getloadavg())}")
    if args.rows:
        print("a decode step's products (ms, one BLAS thread): rows, x @ W.T, blocks, dot products")
        for rows, plain, blocks, dots in step_products([int(r) for r in args.rows.split(",")], args.repeats):
            print(f"{rows:4d} {plain:9.1f} {blocks:9.1f} {dots:9.1f}", flush=True)
        print(f"load: {' '.join(f'{x:.1f}' for x in os.getloadavg())}")
        return
    print(f"{'op':36} {'mlx ms':>9} {'np 1t ms':>9} {'np 2t ms':>9} {'mlx/np1':>8}")
    for label, mlx_ms, one, two in [*products(args.repeats), *attention(args.repeats)]:
        print(f"{label:36} {mlx_ms:9.3f} {one:9.3f} {two:9.3f} {mlx_ms / one:8.1f}", flush=True)
    print()
    for label, ms in hand_over(args.repeats):
        print(f"{label:46} {ms * 1e3:8.1f} us")


if __name__ == "__main__":
    main()
