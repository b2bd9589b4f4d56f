"""Prefill cost chunk by chunk on the mlx backend's CPU path: how a 2k prompt compares to a 512 one.

Loads the default model (SmolLM2-135M, Q4_1 GGUF) with the default CPU options (``--option
name=true|false`` to change them) and prefills random prompts of ``--prompts`` tokens in
chunks of ``--chunk`` tokens straight through the model (no scheduler: the scheduler sizes
its chunks to ``prefill_chunk_s`` of measured time, 16 tokens at its smallest), timing each
chunk in CPU time (``time.process_time``: steadier than wall time on a shared machine). Prints
per prompt the total, the first and last chunk's CPU time, and the ratio of the largest prompt
to the smallest (the issue's "2k prompt costs <= 4.5x a 512 prompt"); prompts alternate
``--repeat`` times and the best of each is kept.

``--blocks`` instead times the 30 layers' products (the default model's shapes, distinct
weights so they stream from memory) for a chunk of 2-64 rows, as ``rows_product`` multiplies
them (weight blocks sized for OpenBLAS's small-matrix kernel, ``cpu_share.weight_block``)
against the previous blocks of 384 KiB and one plain ``x @ W.T``.

    python benchmarks/mlx_cpu_chunks.py [--chunk 64] [--prompts 512 2048] [--repeat 2]
    python benchmarks/mlx_cpu_chunks.py --blocks [--rows 8 16 32 64]
"""

from __future__ import annotations

import argparse
import os
import time

import mlx.core as mx
import numpy as np

from lmstream_mlx.blas_scope import blas_thread_limit, model_call
from lmstream_mlx.cache import CacheLayout, MlxPromptCache
from lmstream_mlx.cpu_layers import rows_product
from lmstream_mlx.model import MlxBackendModel, create_backend
from lmstream_mlx.speed import blas_threads_of


def prefill(backend: MlxBackendModel, length: int, chunk: int) -> list[float]:
    """CPU seconds of each chunk of a random ``length``-token prompt."""
    model, threads = backend.model, blas_threads_of(backend.model)
    cache = MlxPromptCache(model)
    cache.prepare(CacheLayout())
    ids = mx.random.randint(100, 40000, (length,)).astype(mx.uint32)
    spent = []
    with mx.stream(backend.stream()):
        for start in range(0, length, chunk):
            began = time.process_time()
            with model_call(threads, prefill=True):
                model(ids[None, start:start + chunk], cache=cache.layers)
            mx.eval([c.state for c in cache.layers or [] if not hasattr(c, "append")])
            spent.append(time.process_time() - began)
    return spent


def blocked(x: np.ndarray, weight: np.ndarray, block: int) -> np.ndarray:
    """``x @ weight.T`` in blocks of ``block`` weight rows (``rows_product``'s loop)."""
    columns = np.ascontiguousarray(x.T)
    out = np.empty((weight.shape[0], x.shape[0]), dtype=np.float32)
    for start in range(0, weight.shape[0], block):
        np.matmul(weight[start:start + block], columns, out=out[start:start + block])
    result: np.ndarray = out.T
    return result


def blocks(rows_list: list[int], repeat: int) -> None:
    """CPU time of a chunk's 30 layers of products, three ways, best of ``repeat``."""
    rng = np.random.default_rng(0)
    weights = [rng.standard_normal(shape, dtype=np.float32)
               for shape in [(960, 576), (576, 576), (3072, 576), (576, 1536)] for _ in range(30)]
    with blas_thread_limit(1):
        for rows in rows_list:
            xs = {k: rng.standard_normal((rows, k), dtype=np.float32) for k in (576, 1536)}
            sides = {"rows_product": lambda w, xs=xs: rows_product(xs[w.shape[1]], w),
                     "384 KiB blocks": lambda w, xs=xs: blocked(xs[w.shape[1]], w,
                                                                max(16, 384 * 1024 // (4 * w.shape[1]))),
                     "plain": lambda w, xs=xs: xs[w.shape[1]] @ w.T}
            best = dict.fromkeys(sides, float("inf"))
            for _ in range(repeat):
                for name, side in sides.items():
                    began = time.process_time()
                    for weight in weights:
                        side(weight)
                    best[name] = min(best[name], time.process_time() - began)
            print(f"{rows} rows: " + ", ".join(f"{name} {t * 1e3:.0f} ms" for name, t in best.items())
                  + f" CPU; load {os.getloadavg()[0]:.1f}", flush=True)


def main() -> None:
    """Alternate the prompts, print each run and the best totals' ratio."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--chunk", type=int, default=64)
    parser.add_argument("--prompts", type=int, nargs="*", default=[512, 2048])
    parser.add_argument("--repeat", type=int, default=2)
    parser.add_argument("--option", action="append", default=[], help="load option name=true|false")
    parser.add_argument("--blocks", action="store_true", help="time the products' block sizes instead")
    parser.add_argument("--rows", type=int, nargs="*", default=[8, 16, 32, 64])
    args = parser.parse_args()
    if args.blocks:
        blocks(args.rows, max(args.repeat, 3))
        return
    options = {k: v == "true" for k, _, v in (o.partition("=") for o in args.option)}
    backend = create_backend(None, **options)
    print(f"load {' '.join(f'{x:.1f}' for x in os.getloadavg())} on {os.cpu_count()} cores; {backend.speed.applied}")
    prefill(backend, 64, args.chunk)  # warm-up
    best: dict[int, float] = {}
    for _ in range(args.repeat):
        for length in args.prompts:
            spent = prefill(backend, length, args.chunk)
            best[length] = min(best.get(length, float("inf")), sum(spent))
            print(f"prompt {length}, chunks of {args.chunk}: {sum(spent):.2f} s CPU; first chunk "
                  f"{spent[0] * 1e3:.0f} ms, last {spent[-1] * 1e3:.0f} ms; load {os.getloadavg()[0]:.1f}", flush=True)
    low, high = min(args.prompts), max(args.prompts)
    print(f"chunks of {args.chunk}: prompt {high} costs {best[high] / best[low]:.2f}x prompt {low} "
          f"({best[high]:.2f} s vs {best[low]:.2f} s CPU)")


if __name__ == "__main__":
    main()
