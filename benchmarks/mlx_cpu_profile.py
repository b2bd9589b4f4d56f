"""Where a decode step and a 512-token prefill chunk spend their time on the mlx backend's CPU path.

Loads the default model (SmolLM2-135M, Q4_1 GGUF) with the default CPU options and profiles:

- one ``--chunk``-token prefill chunk (512) on top of ``--context`` tokens already in the cache;
- decode steps of the backend's batch runner (``MlxBatchRunner.step``, what the scheduler
  calls) with each row count of ``--rows`` (default ``1,8``): rows are chat-length prompts
  of mixed lengths (20-60 tokens), greedy, so their KV caches are ragged as in real traffic.
  A lone row takes the runner's pipelined path, several rows one batched model call.

For each it prints the wall time (timed without the profiler, then profiled), the time of
the profiled run split into parts (BLAS products, attention, rotary embedding, norms and
element-wise work, mlx <-> numpy hand-overs, sampling, the runner's own Python) as
fractions, and the top functions by own time. Rows settings alternate (``--repeat``) so a
change of machine load hits both; compare fractions within one run, and state the load.

    python benchmarks/mlx_cpu_profile.py [--rows 1,8] [--steps 8] [--context 1536] [--chunk 512] [--top 14]
"""

from __future__ import annotations

import argparse
import cProfile
import os
import pstats
import random
import threading
import time
from collections.abc import Callable
from typing import Any

import mlx.core as mx

from lmstream import GenerationParameters
from lmstream.model import GenerationControl, SequenceRequest
from lmstream_mlx.blas_scope import model_call
from lmstream_mlx.cache import CacheLayout, MlxPromptCache
from lmstream_mlx.model import MlxBackendModel, create_backend
from lmstream_mlx.speed import blas_threads_of

PARTS: dict[str, tuple[str, ...]] = {
    "BLAS products": ("project_first", "project_second", "_blas", "rows_product", "shared_product",
                      "product_block", "dot_rows"),
    "attention": ("attend", "_decode_attention", "_prefill_attention", "append", "attend_rows",
                  "_attend_group", "attend_block", "_query_block", "_exp_rows", "_causal"),
    "waiting for the helper thread": ("share", "work", "wait"),
    "rotary embedding": ("_angles", "_rotate", "_rope_pair", "_rope_rows", "rope_rows"),
    "norms, residuals, SiLU": ("rms_norm", "numpy_call", "__call__", "_layer_rows"),
    "mlx <-> numpy hand-over": ("to_numpy", "hand_over", "eval", "array", "async_eval", "item",
                                "tolist", "astype", "reshape"),
    "sampling, runner's mlx calls": ("_sample", "sequence_logprobs", "greedy", "_step_rows", "_read",
                                     "_step_alone", "_result", "_take_ahead"),
}
"""Function names (own time) counted in each part; everything else is "runner, other". mlx's
functions (nanobind) are not seen by cProfile: their time is their Python caller's own time
(``to_numpy``'s is mlx evaluating the embedding; the runner's step functions' is building and
evaluating the sampling graph and reading the tokens)."""


def parts_of(stats: pstats.Stats) -> dict[str, float]:
    """Own time per part (seconds) of a profiled run."""
    totals = dict.fromkeys([*PARTS, "runner, other"], 0.0)
    lookup = {name: part for part, names in PARTS.items() for name in names}
    for (_, _, function), (_, _, own, _, _) in stats.stats.items():  # type: ignore[attr-defined]
        name = function.strip("<>").split(" ")[-1].split(".")[-1].rstrip("'>")
        totals[lookup.get(name, "runner, other")] += own
    return totals


def report(name: str, plain: float, profile: cProfile.Profile, per: int, top: int) -> None:
    """Print wall time, parts as fractions, and the top functions by own time."""
    stats = pstats.Stats(profile)
    parts = parts_of(stats)
    total = sum(parts.values()) or 1.0
    print(f"\n== {name}: {plain / per * 1e3:.1f} ms each unprofiled; profiled {total / per * 1e3:.1f} ms each; "
          f"load {os.getloadavg()[0]:.1f}")
    print("   " + ", ".join(f"{part} {value / total:.0%}" for part, value in parts.items()))
    if top:
        stats.sort_stats("tottime").print_stats(top)


def timed(work: Callable[[], Any]) -> float:
    start = time.perf_counter()
    work()
    return time.perf_counter() - start


def prefill_profile(backend: MlxBackendModel, context: int, chunk: int, top: int) -> None:
    """Profile one ``chunk``-token prefill chunk on top of ``context`` cached tokens (twice: plain, profiled)."""
    model, threads = backend.model, blas_threads_of(backend.model)
    ids = mx.random.randint(100, 40000, (context + chunk,)).astype(mx.uint32)

    def run(start: int, end: int, cache: MlxPromptCache) -> None:
        with model_call(threads, prefill=True):
            model(ids[None, start:end], cache=cache.layers)
        mx.eval([c.state for c in cache.layers or [] if not hasattr(c, "append")])

    caches = []
    for _ in range(2):
        cache = MlxPromptCache(model)
        cache.prepare(CacheLayout())
        for start in range(0, context, 512):
            run(start, min(start + 512, context), cache)
        caches.append(cache)
    plain = timed(lambda: run(context, context + chunk, caches[0]))
    profile = cProfile.Profile()
    profile.runcall(run, context, context + chunk, caches[1])
    report(f"prefill chunk of {chunk} tokens after {context}", plain, profile, 1, top)


def rows_profile(backend: MlxBackendModel, rows: int, steps: int, top: int, seed: int) -> None:
    """Profile ``steps`` runner steps of ``rows`` sequences (after two warm-up steps)."""
    rng = random.Random(seed)
    parameters = GenerationParameters(max_tokens=10_000, temperature=0.0)
    # Two runs (plain, profiled) on fresh rows, so both see the same cache lengths.
    elapsed: list[float] = []
    profile = cProfile.Profile()
    prompts = [[rng.randrange(100, 40000) for _ in range(rng.randrange(20, 61))] for _ in range(rows)]
    for profiled in (False, True):
        def job(profiled: bool = profiled) -> float:
            runner = backend.new_batch_runner()
            for i, prompt in enumerate(prompts):
                runner.add(SequenceRequest(i, tuple(prompt), parameters, None, GenerationControl(threading.Event())))
                while not runner.prefill(i, 512):
                    pass
            ids = list(range(rows))
            for _ in range(2):
                runner.step(ids)

            def work() -> None:
                for _ in range(steps):
                    runner.step(ids)

            if profiled:
                start = time.perf_counter()
                profile.runcall(work)
                took = time.perf_counter() - start
            else:
                took = timed(work)
            runner.close()
            return took

        with mx.stream(backend.stream()):
            elapsed.append(job())
    report(f"decode step, {rows} row{'s' if rows > 1 else ''} ({steps} steps)", elapsed[0], profile, steps, top)


def main() -> None:
    """Profile one prefill chunk, then the decode steps of each row count, alternating."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--context", type=int, default=1536, help="tokens already in the cache before the chunk")
    parser.add_argument("--chunk", type=int, default=512,
                        help="tokens of the profiled prefill chunk (60 with --context 0: a chat prompt)")
    parser.add_argument("--rows", default="1,8", help="row counts of the decode-step profiles")
    parser.add_argument("--steps", type=int, default=8, help="decode steps per profile")
    parser.add_argument("--repeat", type=int, default=1, help="rounds over the row counts (alternating)")
    parser.add_argument("--top", type=int, default=14, help="functions listed per profile (0: none)")
    parser.add_argument("--skip-prefill", action="store_true")
    parser.add_argument("--option", action="append", default=[], help="load option name=true|false")
    args = parser.parse_args()
    options = {k: v == "true" for k, _, v in (o.partition("=") for o in args.option)}
    backend = create_backend(None, **options)
    print(f"load: {' '.join(f'{x:.1f}' for x in os.getloadavg())} on {os.cpu_count()} cores; {backend.speed.applied}")
    if not args.skip_prefill:
        prefill_profile(backend, args.context, args.chunk, args.top)
    for round_ in range(args.repeat):
        for rows in (int(n) for n in args.rows.split(",")):
            rows_profile(backend, rows, args.steps, args.top, seed=round_)


if __name__ == "__main__":
    main()
