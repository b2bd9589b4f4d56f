"""lmstream's llama_cpp backend against llama-cpp-python used directly: same GGUF, same prompt,
greedy, 128 new tokens; plus aggregate throughput with concurrent streams, and the mlx
backend's figures beside them on the same run.

Runs alternate in one process (direct, lmstream, lmstream, direct, ...) after one warm-up
each; both sides are timed the same way, from the consumer: time to the first token from the
call, and decode tokens per second from the first to the last token. Medians compared as
ratios lmstream / direct:

- decode tokens per second (goal >= 0.95),
- time to first token (goal <= 1.05),
- aggregate tokens per second with 1, 4 and 8 concurrent streams (goal: 8 streams >= 2.5x one).

The direct side is ``Llama.generate`` (what ``create_completion`` runs) with the same threads
and batch size; ``Llama.reset()`` before each run so both sides prefill the whole prompt.

    python benchmarks/llama_cpp_vs_direct.py [--runs 3] [--max-tokens 128] [--threads N] [--no-mlx]
"""

from __future__ import annotations

import argparse
import os
import statistics
import threading
import time
from dataclasses import dataclass
from typing import Any

PROMPT = [{"role": "user", "content": "Write a long story about a dragon who learns to fly."}]
"""Rendered with the model's chat template (as benchmarks/mlx_vs_mlx_lm.py), then the same
token ids go to both sides."""


@dataclass
class Run:
    """One generation's figures, measured the same way for every side."""

    ttft_s: float
    decode_tps: float
    tokens: int


def _figures(start: float, times: list[float]) -> Run:
    decode = (len(times) - 1) / (times[-1] - times[0]) if len(times) > 1 else 0.0
    return Run(times[0] - start if times else 0.0, decode, len(times))


def run_direct(llm: Any, prompt: list[int], max_tokens: int, eog: frozenset[int]) -> Run:
    """llama-cpp-python's own greedy generator, stopping at EOS like create_completion."""
    llm.reset()
    start = time.perf_counter()
    times: list[float] = []
    for token in llm.generate(prompt, temp=0.0, reset=True):
        if token in eog:
            break
        times.append(time.perf_counter())
        if len(times) == max_tokens:
            break
    return _figures(start, times)


def run_lmstream(context: Any, prompt: list[int], max_tokens: int) -> Run:
    """lmstream.generate_tokens through the full pipeline (token events, no text stages)."""
    import lmstream

    start = time.perf_counter()
    times: list[float] = []
    for event in lmstream.generate_tokens(lmstream.LMInput(tokens=tuple(prompt)), context=context,
                                          parameters={"max_tokens": max_tokens}):
        if isinstance(event, lmstream.Token):
            times.append(time.perf_counter())
        elif event.error is not None:
            raise event.error
    return _figures(start, times)


def aggregate(context: Any, prompt: list[int], max_tokens: int, streams: int) -> tuple[float, int]:
    """Tokens per second over ``streams`` concurrent generations (wall clock), and the tokens."""
    import lmstream

    counts = [0] * streams

    def consume(i: int) -> None:
        for event in lmstream.generate_tokens(lmstream.LMInput(tokens=tuple(prompt)),
                                              context=context,
                                              parameters={"max_tokens": max_tokens}):
            if isinstance(event, lmstream.Token):
                counts[i] += 1

    threads = [threading.Thread(target=consume, args=(i,)) for i in range(streams)]
    start = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    total = sum(counts)
    return total / (time.perf_counter() - start), total


def _print_run(i: int, name: str, run: Run) -> None:
    print(f"  run {i + 1} {name:16s} ttft {run.ttft_s * 1000:7.1f} ms  decode {run.decode_tps:7.2f} "
          f"tok/s  tokens {run.tokens}", flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=3, help="measured runs per side (after one warm-up)")
    parser.add_argument("--max-tokens", type=int, default=128)
    parser.add_argument("--streams", type=int, nargs="*", default=[1, 4, 8])
    parser.add_argument("--no-mlx", action="store_true", help="skip the mlx backend's figures")
    parser.add_argument("--threads", type=int, default=None,
                        help="llama.cpp threads on both sides (default: the usable cores)")
    args = parser.parse_args()

    from llama_cpp import Llama

    import lmstream

    threads = {"n_threads": args.threads, "n_threads_batch": args.threads} if args.threads else {}
    context = lmstream.load(backend="llama_cpp", **threads)
    options = context.backend_model.options
    prompt = list(context.prepare(lmstream.UserInput(messages=PROMPT)).tokens)
    llm = Llama(model_path=str(context.info.path), n_ctx=2048, n_batch=options.n_batch,
                n_ubatch=options.n_ubatch, n_threads=options.threads,
                n_threads_batch=options.threads_batch, verbose=False)
    eog = context.tokenizer.eos_token_ids
    mlx_context = None
    if not args.no_mlx:
        try:
            mlx_context = lmstream.load(backend="mlx")
        except Exception as exc:  # mlx not installed: report and go on
            print(f"mlx backend unavailable ({exc}); its figures are left out")
    load = os.getloadavg() if hasattr(os, "getloadavg") else None
    print(f"model: {context.info.name} ({context.info.path.name if context.info.path else ''}); "
          f"prompt: {len(prompt)} tokens; {args.max_tokens} new tokens; threads {options.threads}; "
          f"load average before: {load}")

    sides: dict[str, Any] = {
        "llama-cpp-python": lambda: run_direct(llm, prompt, args.max_tokens, eog),
        "lmstream": lambda: run_lmstream(context, prompt, args.max_tokens),
    }
    if mlx_context is not None:
        sides["lmstream mlx"] = lambda: run_lmstream(mlx_context, prompt, args.max_tokens)
    for run in sides.values():
        run()  # warm-up
    results: dict[str, list[Run]] = {name: [] for name in sides}
    names = list(sides)
    for i in range(args.runs):
        for name in names if i % 2 == 0 else reversed(names):
            result = sides[name]()
            results[name].append(result)
            _print_run(i, name, result)

    def median(name: str, field: str) -> float:
        return float(statistics.median(getattr(r, field) for r in results[name]))

    print()
    print(f"{'':14s}{'direct':>12s}{'lmstream':>12s}{'ratio':>8s}  goal" +
          (f"{'mlx':>12s}" if mlx_context is not None else ""))
    for label, field, scale, goal in (("decode tok/s", "decode_tps", 1.0, ">= 0.95"),
                                      ("ttft ms", "ttft_s", 1e-3, "<= 1.05")):
        a, b = median("llama-cpp-python", field) / scale, median("lmstream", field) / scale
        extra = f"{median('lmstream mlx', field) / scale:12.2f}" if mlx_context is not None else ""
        print(f"{label:14s}{a:12.2f}{b:12.2f}{b / a:8.3f}  {goal:8s}{extra}")

    print()
    print("aggregate tok/s with concurrent streams (lmstream llama_cpp; wall clock):")
    single = None
    for streams in args.streams:
        tps, total = aggregate(context, prompt, args.max_tokens, streams)
        single = single or tps
        print(f"  {streams} stream(s): {tps:8.1f} tok/s ({total} tokens), {tps / single:5.2f}x one stream",
              flush=True)
    if mlx_context is not None:
        tps, total = aggregate(mlx_context, prompt, min(args.max_tokens, 32), 1)
        print(f"  mlx backend, 1 stream, {min(args.max_tokens, 32)} tokens: {tps:8.1f} tok/s")
        mlx_context.close()
    load = os.getloadavg() if hasattr(os, "getloadavg") else None
    print(f"load average after: {load}")
    llm.close()
    context.close()


if __name__ == "__main__":
    main()
