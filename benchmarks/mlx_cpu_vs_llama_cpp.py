"""The mlx backend on CPU end to end: its BLAS paths against its previous path and llama.cpp.

Three sides on the same GGUF (the embedded default, SmolLM2-135M-Instruct Q4_1), in one
process, alternating run by run so machine load hits each alike; medians are reported:

- ``new``: the mlx backend as loaded by default on CPU (every product and attention on
  numpy's BLAS, numpy KV cache: ``blas_one_row`` and ``cpu_blocks`` on);
- ``old``: the previous CPU path (``blas_one_row=False, cpu_blocks=False``: only multi-row
  products on BLAS, one-row products and attention on mlx's kernels);
- ``shared`` (``--shared``): the default path with ``cpu_share=True`` (every large product of
  4+ rows and prefill attention shared with a helper thread, not only batched steps' as by
  default; it pays only with a free second core);
- ``llama.cpp``: llama-cpp-python direct (``Llama.generate``, ``reset()`` before each run),
  1 thread unless ``--threads``.

Figures: time to first token for chat prompts of ``--prompts`` tokens (a templated chat
message cut to that length), and decode tokens/s over ``--decode`` tokens after a short
prompt (EOS suppressed on the mlx side, greedy). ``old`` runs only the prompts up to
``--old-max-prompt`` tokens (its 2k prefill takes minutes on a 2-core machine).

    python benchmarks/mlx_cpu_vs_llama_cpp.py [--runs 3] [--prompts 512 2048] [--decode 64]
"""

from __future__ import annotations

import argparse
import os
import statistics
import time
from collections.abc import Callable
from typing import Any

import lmstream

TEXT = ("The river ran past the old mill, where the miller's daughter counted sacks of grain "
        "and wrote the numbers in a ledger her grandfather had started. ")


def chat_prompt(context: Any, length: int) -> list[int]:
    """A chat-templated user message long enough, cut to ``length`` tokens."""
    message = TEXT * (length // 20 + 4)
    tokens = list(context.prepare(lmstream.UserInput(messages=[{"role": "user", "content": message}])).tokens)
    assert len(tokens) >= length
    return tokens[:length]


def mlx_run(context: Any, prompt: list[int], max_tokens: int, eos: list[int]) -> tuple[float, float]:
    """(seconds to first token, decode tokens/s) of one greedy generation through lmstream."""
    start = time.perf_counter()
    stamps = []
    for event in lmstream.generate_tokens(lmstream.LMInput(tokens=tuple(prompt)), context=context,
                                          parameters={"max_tokens": max_tokens,
                                                      "logit_bias": {e: -100.0 for e in eos}}):
        if isinstance(event, lmstream.Token):
            stamps.append(time.perf_counter())
    rate = (len(stamps) - 1) / (stamps[-1] - stamps[0]) if len(stamps) > 1 else 0.0
    return stamps[0] - start, rate


def llama_run(llm: Any, prompt: list[int], max_tokens: int) -> tuple[float, float]:
    """(seconds to first token, decode tokens/s) of llama-cpp-python direct, greedy."""
    llm.reset()
    start = time.perf_counter()
    stamps = []
    for _ in llm.generate(prompt, temp=0.0, reset=True):
        stamps.append(time.perf_counter())
        if len(stamps) >= max_tokens:
            break
    rate = (len(stamps) - 1) / (stamps[-1] - stamps[0]) if len(stamps) > 1 else 0.0
    return stamps[0] - start, rate


def main() -> None:
    """Alternate the sides, print medians and the ratios the issue's goals are stated in."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--prompts", type=int, nargs="*", default=[512, 2048])
    parser.add_argument("--decode", type=int, default=64)
    parser.add_argument("--old-max-prompt", type=int, default=512)
    parser.add_argument("--threads", type=int, default=1, help="llama.cpp threads")
    parser.add_argument("--no-llama-cpp", action="store_true")
    parser.add_argument("--shared", action="store_true",
                        help="also run the default path with cpu_share=True (a helper thread shares large products)")
    parser.add_argument("--prefill-chunk-s", type=float, default=None,
                        help="the scheduler's prefill chunk budget (seconds) for the mlx sides")
    args = parser.parse_args()

    common: dict[str, Any] = {"prefix_cache_bytes": 0}
    if args.prefill_chunk_s is not None:
        common["prefill_chunk_s"] = args.prefill_chunk_s
    new = lmstream.load(backend="mlx", **common)
    old = lmstream.load(backend="mlx", blas_one_row=False, cpu_blocks=False, **common)
    sides: dict[str, Callable[[list[int], int], tuple[float, float]]] = {}
    eos = list(new.tokenizer.eos_token_ids) if hasattr(new.tokenizer, "eos_token_ids") else []
    sides["new"] = lambda p, n: mlx_run(new, p, n, eos)
    sides["old"] = lambda p, n: mlx_run(old, p, n, eos)
    shared = lmstream.load(backend="mlx", cpu_share=True, **common) if args.shared else None
    if shared is not None:
        sides["shared"] = lambda p, n: mlx_run(shared, p, n, eos)
    if not args.no_llama_cpp:
        from llama_cpp import Llama

        llm = Llama(model_path=str(new.info.path), n_ctx=4096, n_threads=args.threads,
                    n_threads_batch=args.threads, verbose=False)
        sides["llama.cpp"] = lambda p, n: llama_run(llm, p, n)
    print(f"load: {os.getloadavg()[0]:.1f} {os.getloadavg()[1]:.1f}")
    short = chat_prompt(new, 24)
    cases: list[tuple[str, list[int], int]] = [("decode", short, args.decode)]
    cases += [(f"prompt {n}", chat_prompt(new, n), 1) for n in args.prompts]
    results: dict[tuple[str, str], list[float]] = {}
    for name, prompt, tokens in cases:
        for side, run in sides.items():
            if side == "old" and name != "decode" and len(prompt) > args.old_max_prompt:
                continue
            run(prompt[:16], 2)  # warm-up
        for _ in range(args.runs):
            for side, run in sides.items():
                if side == "old" and name != "decode" and len(prompt) > args.old_max_prompt:
                    continue
                ttft, rate = run(prompt, tokens)
                results.setdefault((name, side), []).append(rate if name == "decode" else ttft)
                print(f"  {name} {side}: {results[(name, side)][-1]:.3f}", flush=True)
    print(f"load: {os.getloadavg()[0]:.1f} {os.getloadavg()[1]:.1f}")
    print(f"{'case':14} " + " ".join(f"{s:>11}" for s in sides) + "   new/llama.cpp   new vs old")
    for name, _, _ in cases:
        row = {s: statistics.median(results[(name, s)]) for s in sides if (name, s) in results}
        unit = "tok/s" if name == "decode" else "s"
        cells = " ".join(f"{row[s]:>9.2f}{unit[0]:>2}" if s in row else f"{'-':>11}" for s in sides)
        vs_llama = f"{row['new'] / row['llama.cpp']:.2f}x" if "llama.cpp" in row else "-"
        vs_old = f"{(row['new'] / row['old'] if name == 'decode' else row['old'] / row['new']):.1f}x faster" \
            if "old" in row else "-"
        print(f"{name:14} {cells}   {vs_llama:>13}   {vs_old}")
    if len(args.prompts) >= 2:
        first, last = args.prompts[0], args.prompts[-1]
        ratio = statistics.median(results[(f'prompt {last}', 'new')]) / statistics.median(results[(f'prompt {first}', 'new')])
        print(f"new: prompt {last} costs {ratio:.2f}x prompt {first}")
    if "shared" in sides:
        for name, _, _ in cases:
            ratio = statistics.median(results[(name, "shared")]) / statistics.median(results[(name, "new")])
            print(f"shared / new, {name}: {ratio:.2f}x ({'tok/s' if name == 'decode' else 'time to first token'})")
    new.close()
    old.close()
    if shared is not None:
        shared.close()


if __name__ == "__main__":
    main()
