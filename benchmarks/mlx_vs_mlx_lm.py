"""lmstream's mlx backend against mlx-lm: same model, same prompt, greedy, 128 new tokens.

Runs alternate in one process (mlx-lm, lmstream, lmstream, mlx-lm, ...) after one warm-up
each, and the medians are compared as ratios lmstream / mlx-lm:

- decode tokens per second (goal >= 1.0),
- time to first token (goal <= 1.0),
- peak memory of the generation: weights + what the generation allocated (goal <= 1.05).

The model is the embedded default (SmolLM2-135M-Instruct, Q4_1 GGUF): lmstream loads the GGUF
file, mlx-lm loads the same weights converted to an mlx-lm directory. EOS is suppressed on
both sides (the same logit bias) so every run generates exactly ``--max-tokens`` tokens.
Both sides are timed the same way, from the consumer: TTFT from the call to the first token
the consumer receives, decode tok/s over the tokens received after it, peak memory as mlx's
process-wide peak over the generation plus the weights.

    python benchmarks/mlx_vs_mlx_lm.py [--runs 3] [--max-tokens 128] [--option compile=false]
"""

from __future__ import annotations

import argparse
import json
import statistics
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

PROMPT = [{"role": "user", "content": "Write a long story about a dragon who learns to fly."}]


@dataclass
class Run:
    """One generation's figures, measured the same way for both sides."""

    ttft_s: float
    decode_tps: float
    peak_bytes: int
    tokens: int


def _option(text: str) -> tuple[str, Any]:
    key, _, raw = text.partition("=")
    try:
        value = json.loads(raw)
    except json.JSONDecodeError:
        value = raw
    return key, value


def run_mlx_lm(model: Any, tokenizer: Any, prompt: list[int], max_tokens: int, bias: dict[int, float],
               weights: int) -> Run:
    """mlx_lm.stream_generate, timed from the consumer side."""
    import mlx.core as mx
    import mlx_lm
    from mlx_lm.sample_utils import make_logits_processors

    processors = make_logits_processors(logit_bias=bias)
    mx.synchronize()
    before = mx.get_active_memory()
    mx.reset_peak_memory()
    start = time.perf_counter()
    times = []
    for _ in mlx_lm.stream_generate(model, tokenizer, prompt, max_tokens=max_tokens,
                                    logits_processors=processors):
        times.append(time.perf_counter())
    peak = mx.get_peak_memory() - before + weights
    decode = (len(times) - 1) / (times[-1] - times[0]) if len(times) > 1 else 0.0
    return Run(times[0] - start, decode, peak, len(times))


def run_lmstream(context: Any, prompt: list[int], max_tokens: int, bias: dict[int, float]) -> Run:
    """lmstream.generate through the full pipeline, timed from the consumer side like mlx-lm:
    the clock starts before the call, each Chunk is stamped when the consumer gets it, and
    peak memory is mlx's process-wide peak over the generation (plus the weights)."""
    import mlx.core as mx

    import lmstream

    mx.synchronize()
    before = mx.get_active_memory()
    mx.reset_peak_memory()
    start = time.perf_counter()
    stamps: list[tuple[float, int]] = []  # (when the consumer got it, token ids in it)
    info = None
    for event in lmstream.generate(lmstream.LMInput(tokens=tuple(prompt)), context=context,
                                   parameters={"max_tokens": max_tokens, "logit_bias": bias}):
        now = time.perf_counter()
        if isinstance(event, lmstream.Chunk) and event.tokens:
            stamps.append((now, len(event.tokens)))
        elif isinstance(event, lmstream.Info):
            info = event
    assert info is not None
    if info.error is not None:
        raise info.error
    peak = mx.get_peak_memory() - before + (info.stats.weights_bytes or 0)
    tokens = sum(count for _, count in stamps)
    first, last = stamps[0][0], stamps[-1][0]
    decode = (tokens - stamps[0][1]) / (last - first) if last > first else 0.0
    return Run(first - start, decode, peak, tokens)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=3, help="measured runs per side (after one warm-up)")
    parser.add_argument("--max-tokens", type=int, default=128)
    parser.add_argument("--option", action="append", default=[], type=_option,
                        help="an lmstream load option, e.g. compile=false (repeatable)")
    args = parser.parse_args()

    import mlx.core as mx
    import mlx_lm

    import lmstream
    from lmstream_mlx.convert import gguf_to_mlx_lm
    from lmstream_mlx.loading import default_model_path
    from lmstream_mlx.memory import tree_nbytes

    options = {"prefix_cache_bytes": 0, **dict(args.option)}
    context = lmstream.load(backend="mlx", **options)  # not "auto": llama.cpp where it is installed
    prompt = list(context.prepare(lmstream.UserInput(messages=PROMPT)).tokens)
    bias = {eos: -1e9 for eos in context.tokenizer.eos_token_ids}
    with tempfile.TemporaryDirectory() as tmp:
        converted = gguf_to_mlx_lm(default_model_path(), Path(tmp) / "model")
        model, tokenizer = mlx_lm.load(str(converted))
    weights = tree_nbytes(model.parameters())
    print(f"model: {context.info.name} ({context.info.path.name if context.info.path else ''}); "
          f"device: {mx.default_device()}; prompt: {len(prompt)} tokens; "
          f"{args.max_tokens} new tokens; lmstream options: {options or 'defaults'}")

    def theirs() -> Run:
        return run_mlx_lm(model, tokenizer, prompt, args.max_tokens, bias, weights)

    def ours() -> Run:
        return run_lmstream(context, prompt, args.max_tokens, bias)

    theirs(), ours()  # warm-up
    results: dict[str, list[Run]] = {"mlx-lm": [], "lmstream": []}
    for i in range(args.runs):
        order = [("mlx-lm", theirs), ("lmstream", ours)]
        for name, run in order if i % 2 == 0 else reversed(order):
            result = run()
            results[name].append(result)
            print(f"  run {i + 1} {name:9s} ttft {result.ttft_s:6.2f} s  decode {result.decode_tps:6.2f} tok/s"
                  f"  peak {result.peak_bytes / 2**20:7.1f} MiB  tokens {result.tokens}", flush=True)

    def median(name: str, field: str) -> float:
        return statistics.median(getattr(r, field) for r in results[name])

    print()
    print(f"{'':14s}{'mlx-lm':>12s}{'lmstream':>12s}{'ratio':>8s}  goal")
    rows = [("decode tok/s", "decode_tps", 1.0, ">= 1.0"), ("ttft s", "ttft_s", 1.0, "<= 1.0"),
            ("peak MiB", "peak_bytes", 2**20, "<= 1.05")]
    for label, field, scale, goal in rows:
        a, b = median("mlx-lm", field) / scale, median("lmstream", field) / scale
        print(f"{label:14s}{a:12.2f}{b:12.2f}{b / a:8.3f}  {goal}")
    context.close()


if __name__ == "__main__":
    main()
