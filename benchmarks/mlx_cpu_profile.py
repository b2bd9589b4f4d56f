"""Where a decode step and a 512-token prefill chunk spend their time on the mlx backend's CPU path.

Loads the default model (SmolLM2-135M, Q4_1 GGUF) with the default CPU options, prefills
``--context`` tokens, then profiles (cProfile, sorted by own time) one 512-token prefill
chunk on top of that context and ``--steps`` single-token decode steps, and prints the
wall time of each.

    python benchmarks/mlx_cpu_profile.py [--context 1536] [--steps 20] [--top 14]
"""

from __future__ import annotations

import argparse
import cProfile
import os
import pstats
import time

import mlx.core as mx

from lmstream_mlx.blas_scope import model_call
from lmstream_mlx.cache import CacheLayout, MlxPromptCache
from lmstream_mlx.model import create_backend
from lmstream_mlx.speed import blas_threads_of


def main() -> None:
    """Prefill, then profile one prefill chunk and the decode steps."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--context", type=int, default=1536, help="tokens already in the cache")
    parser.add_argument("--steps", type=int, default=20)
    parser.add_argument("--top", type=int, default=14)
    parser.add_argument("--option", action="append", default=[], help="load option name=true|false")
    args = parser.parse_args()
    options = {k: v == "true" for k, _, v in (o.partition("=") for o in args.option)}
    backend = create_backend(None, **options)
    print(f"load: {' '.join(f'{x:.1f}' for x in os.getloadavg())}; {backend.speed.applied}")
    model, threads = backend.model, blas_threads_of(backend.model)
    cache = MlxPromptCache(model)
    cache.prepare(CacheLayout())
    ids = mx.random.randint(100, 40000, (args.context + 512 + 1,)).astype(mx.uint32)
    for start in range(0, args.context, 512):
        with model_call(threads, prefill=True):
            model(ids[None, start:min(start + 512, args.context)], cache=cache.layers)
        mx.eval([c.state for c in cache.layers or [] if not hasattr(c, "append")])

    def prefill_chunk() -> None:
        with model_call(threads, prefill=True):
            model(ids[None, args.context:args.context + 512], cache=cache.layers)
        mx.eval([c.state for c in cache.layers or [] if not hasattr(c, "append")])

    def decode_steps() -> None:
        token = ids[-1:]
        for _ in range(args.steps):
            with model_call(threads):
                logits = model(token[None], cache=cache.layers)
            token = mx.argmax(logits[0, -1:], axis=-1).astype(mx.uint32)
            mx.eval(token)

    for name, work, per in (("prefill chunk of 512 tokens", prefill_chunk, 1),
                            (f"{args.steps} decode steps", decode_steps, args.steps)):
        profile = cProfile.Profile()
        start = time.perf_counter()
        profile.runcall(work)
        elapsed = time.perf_counter() - start
        print(f"\n== {name}: {elapsed:.3f} s ({elapsed / per * 1e3:.1f} ms each, profiled)")
        pstats.Stats(profile).sort_stats("tottime").print_stats(args.top)


if __name__ == "__main__":
    main()
