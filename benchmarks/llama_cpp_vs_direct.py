"""lmstream's llama_cpp backend against llama-cpp-python used directly: same GGUF, same token
ids, greedy, both sides in one process, alternating (direct, lmstream, lmstream, direct, ...)
after one warm-up each, so a busy machine slows both alike. Every figure is a median of
per-pair RATIOS lmstream / direct, printed with the load average before and after:

- time to first token on a short (~20-token) chat prompt (goal: <= direct + 10 ms), and the
  same less the time spent inside ``llama_decode`` (each side's own overhead: under load the
  compute itself varies by hundreds of ms, the overhead much less),
- decode tokens per second of a long answer (goal: >= 0.95),
- with ``--sweep``: the same two for each (n_threads, n_threads_batch) pair, and the direct
  side's prefill time of a ~500-token prompt per n_threads_batch (how the defaults were chosen),
- aggregate tokens per second with 1, 4 and 8 concurrent streams (lmstream only).

The direct side is ``Llama.generate`` (what ``create_completion`` runs) with the same threads
and batch size; ``Llama.reset()`` before each run so both sides prefill the whole prompt.

    python benchmarks/llama_cpp_vs_direct.py [--runs 15] [--max-tokens 96] [--threads N]
        [--threads-batch N] [--sweep] [--streams 1 4 8]
"""

from __future__ import annotations

import argparse
import os
import statistics
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

SHORT = [{"role": "user", "content": "Tell me a joke."}]
"""About 20 tokens once rendered with the model's chat template (the TTFT goal's prompt)."""
LONG_ANSWER = [{"role": "user", "content": "Write a long story about a dragon who learns to fly."}]
PREFILL_WORDS = 420
"""Words of the prefill prompt (~500 tokens)."""


@dataclass
class Run:
    """One generation's figures, measured the same way for every side."""

    ttft_s: float
    decode_tps: float
    tokens: int
    overhead_s: float = 0.0
    """``ttft_s`` less the time inside ``llama_decode`` until the first token."""
    step_compute_s: float = 0.0
    """Seconds inside ``llama_decode`` per token after the first."""
    step_overhead_s: float = 0.0
    """Seconds per token after the first outside ``llama_decode`` (the side's own cost)."""


class DecodeClock:
    """Wraps ``llama_decode`` where both sides look it up (the ``llama_cpp`` package for
    lmstream, its ``llama_cpp.llama_cpp`` module for ``Llama``) to add up the seconds inside it."""

    def __init__(self) -> None:
        import llama_cpp
        import llama_cpp.llama_cpp as bindings

        self.inside = 0.0
        self._real = llama_cpp.llama_decode

        def timed(*args: Any) -> Any:
            start = time.perf_counter()
            try:
                return self._real(*args)
            finally:
                self.inside += time.perf_counter() - start

        llama_cpp.llama_decode = bindings.llama_decode = timed


CLOCK: DecodeClock | None = None


def _figures(start: float, times: list[float], inside_at_first: float = 0.0,
             inside_after: float = 0.0) -> Run:
    steps = len(times) - 1
    decode = steps / (times[-1] - times[0]) if steps > 0 else 0.0
    ttft = times[0] - start if times else 0.0
    compute = inside_after / steps if steps > 0 else 0.0
    overhead = (times[-1] - times[0]) / steps - compute if steps > 0 else 0.0
    return Run(ttft, decode, len(times), ttft - inside_at_first, compute, overhead)


def _inside() -> float:
    return CLOCK.inside if CLOCK is not None else 0.0


def run_direct(llm: Any, prompt: list[int], max_tokens: int) -> Run:
    """llama-cpp-python's own greedy generator (no EOS stop: both sides run ``max_tokens``)."""
    llm.reset()
    before, first = _inside(), 0.0
    start = time.perf_counter()
    times: list[float] = []
    for _token in llm.generate(prompt, temp=0.0, reset=True):
        times.append(time.perf_counter())
        if len(times) == 1:
            first = _inside() - before
        if len(times) == max_tokens:
            break
    return _figures(start, times, first, _inside() - before - first)


def run_lmstream(context: Any, prompt: list[int], max_tokens: int) -> Run:
    """lmstream.generate_tokens through the full pipeline (token events, no text stages); no
    stop tokens, so it runs ``max_tokens`` like the direct side."""
    import lmstream

    before, first, last = _inside(), 0.0, 0.0
    start = time.perf_counter()
    times: list[float] = []
    stream = lmstream.generate_tokens(lmstream.LMInput(tokens=tuple(prompt)), context=context,
                                      parameters={"max_tokens": max_tokens})
    for event in stream:
        if isinstance(event, lmstream.Token):
            times.append(time.perf_counter())
            if len(times) == 1:
                first = _inside() - before  # one generation at a time: only its decodes count
            last = _inside() - before
        elif event.error is not None:
            raise event.error
    return _figures(start, times, first, last - first if times else 0.0)


def alternate(sides: dict[str, Callable[[], Run]], runs: int) -> dict[str, list[Run]]:
    """One warm-up each, then ``runs`` rounds, the order flipped every round."""
    for run in sides.values():
        run()
    results: dict[str, list[Run]] = {name: [] for name in sides}
    names = list(sides)
    for i in range(runs):
        for name in names if i % 2 == 0 else reversed(names):
            results[name].append(sides[name]())
    return results


def ratio(results: dict[str, list[Run]], field: str) -> float:
    """Median over rounds of lmstream / direct for one figure."""
    pairs = zip(results["lmstream"], results["direct"], strict=True)
    return float(statistics.median(getattr(a, field) / getattr(b, field) for a, b in pairs))


def median(results: dict[str, list[Run]], side: str, field: str) -> float:
    return float(statistics.median(getattr(r, field) for r in results[side]))


def compare(context: Any, llm: Any, short: list[int], long: list[int], runs: int,
            max_tokens: int) -> list[str]:
    """TTFT (short prompt, one token) and decode (long answer) rows: direct, lmstream, ratio."""
    ttft = alternate({"direct": lambda: run_direct(llm, short, 1),
                      "lmstream": lambda: run_lmstream(context, short, 1)}, runs)
    decode = alternate({"direct": lambda: run_direct(llm, long, max_tokens),
                        "lmstream": lambda: run_lmstream(context, long, max_tokens)},
                       max(3, runs // 3))
    gaps = [(a.ttft_s - b.ttft_s) * 1000 for a, b in zip(ttft["lmstream"], ttft["direct"], strict=True)]
    extra = [(a.overhead_s - b.overhead_s) * 1000
             for a, b in zip(ttft["lmstream"], ttft["direct"], strict=True)]
    return [
        f"  ttft overhead ms (ttft less llama_decode)  direct {median(ttft, 'direct', 'overhead_s') * 1000:7.2f}  "
        f"lmstream {median(ttft, 'lmstream', 'overhead_s') * 1000:7.2f}  lmstream - direct (median) "
        f"{statistics.median(extra):+6.2f} ms",
        f"  ttft ms ({len(short)}-token prompt)  direct {median(ttft, 'direct', 'ttft_s') * 1000:8.1f}  "
        f"lmstream {median(ttft, 'lmstream', 'ttft_s') * 1000:8.1f}  ratio {ratio(ttft, 'ttft_s'):6.3f}  "
        f"lmstream - direct (median) {statistics.median(gaps):+6.1f} ms  goal <= +10",
        f"  decode tok/s ({max_tokens} tokens)  direct {median(decode, 'direct', 'decode_tps'):8.1f}  "
        f"lmstream {median(decode, 'lmstream', 'decode_tps'):8.1f}  ratio {ratio(decode, 'decode_tps'):6.3f}"
        "  goal >= 0.95",
        f"  per decode step ms: inside llama_decode  direct {median(decode, 'direct', 'step_compute_s') * 1000:6.2f}"
        f"  lmstream {median(decode, 'lmstream', 'step_compute_s') * 1000:6.2f};  outside it  direct "
        f"{median(decode, 'direct', 'step_overhead_s') * 1000:6.2f}  lmstream "
        f"{median(decode, 'lmstream', 'step_overhead_s') * 1000:6.2f}",
    ]


def prefill_seconds(llm: Any, prompt: list[int]) -> float:
    """Direct ``Llama.eval`` of the whole prompt (prefill only)."""
    llm.reset()
    start = time.perf_counter()
    llm.eval(prompt)
    return time.perf_counter() - start


def aggregate(context: Any, prompt: list[int], max_tokens: int, streams: int) -> tuple[float, int]:
    """Tokens per second over ``streams`` concurrent generations (wall clock), and the tokens."""
    counts = [0] * streams

    def consume(i: int) -> None:
        counts[i] = run_lmstream(context, prompt, max_tokens).tokens

    threads = [threading.Thread(target=consume, args=(i,)) for i in range(streams)]
    start = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    total = sum(counts)
    return total / (time.perf_counter() - start), total


def load_average() -> str:
    return " ".join(f"{x:.2f}" for x in os.getloadavg()) if hasattr(os, "getloadavg") else "n/a"


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=15, help="TTFT rounds (decode: a third)")
    parser.add_argument("--max-tokens", type=int, default=96)
    parser.add_argument("--streams", type=int, nargs="*", default=[1, 4, 8])
    parser.add_argument("--threads", type=int, default=None, help="n_threads (default: the backend's)")
    parser.add_argument("--threads-batch", type=int, default=None,
                        help="n_threads_batch (default: the backend's)")
    parser.add_argument("--sweep", action="store_true",
                        help="also compare every (n_threads, n_threads_batch) pair up to the cores")
    args = parser.parse_args()

    from llama_cpp import Llama

    import lmstream

    global CLOCK
    CLOCK = DecodeClock()

    chosen = {k: v for k, v in (("n_threads", args.threads), ("n_threads_batch", args.threads_batch))
              if v is not None}
    context = lmstream.load(backend="llama_cpp", prefix_cache_bytes=0, **chosen)
    options = context.backend_model.options
    short = list(context.prepare(lmstream.UserInput(messages=SHORT)).tokens)
    long = list(context.prepare(lmstream.UserInput(messages=LONG_ANSWER)).tokens)
    path = str(context.info.path)

    def direct(threads: int, threads_batch: int) -> Any:
        return Llama(model_path=path, n_ctx=2048, n_batch=options.n_batch, n_ubatch=options.n_ubatch,
                     n_threads=threads, n_threads_batch=threads_batch, verbose=False)

    print(f"model: {context.info.name} ({os.path.basename(path)}); cores {os.cpu_count()}; "
          f"load average before: {load_average()}")
    print(f"defaults: n_threads {options.threads}, n_threads_batch {options.threads_batch}")
    llm = direct(options.threads, options.threads_batch)
    for line in compare(context, llm, short, long, args.runs, args.max_tokens):
        print(line, flush=True)
    llm.close()

    if args.sweep:
        cores = os.cpu_count() or 1
        words = ("The quick brown fox jumps over the lazy dog. " * (PREFILL_WORDS // 9 + 1)).split()
        text = " ".join(words[:PREFILL_WORDS])
        print(f"\nsweep (load average {load_average()}):")
        for threads_batch in range(1, cores + 1):
            for threads in range(1, cores + 1):
                other = lmstream.load(backend="llama_cpp", n_threads=threads, n_threads_batch=threads_batch, prefix_cache_bytes=0)
                llm = direct(threads, threads_batch)
                print(f" n_threads {threads}, n_threads_batch {threads_batch}:", flush=True)
                for line in compare(other, llm, short, long, args.runs, args.max_tokens):
                    print(line, flush=True)
                other.close()
                llm.close()
        prefill = list(context.tokenizer.encode(text, add_special_tokens=True))
        llms = {n: direct(1, n) for n in range(1, cores + 1)}
        times: dict[int, list[float]] = {n: [] for n in llms}
        for i in range(max(3, args.runs // 3)):
            for n in (list(llms) if i % 2 == 0 else list(reversed(llms))):
                times[n].append(prefill_seconds(llms[n], prefill))
        base = statistics.median(times[1])
        for n, values in times.items():
            print(f"  direct prefill of {len(prefill)} tokens, n_threads_batch {n}: "
                  f"{statistics.median(values) * 1000:8.1f} ms ({statistics.median(values) / base:5.2f}x 1 thread)")
        for llm in llms.values():
            llm.close()

    if args.streams:
        print("\naggregate tok/s with concurrent streams (lmstream llama_cpp; wall clock):")
        single = None
        for streams in args.streams:
            tps, total = aggregate(context, long, args.max_tokens, streams)
            single = single or tps
            print(f"  {streams} stream(s): {tps:8.1f} tok/s ({total} tokens), {tps / single:5.2f}x one stream",
                  flush=True)
    print(f"load average after: {load_average()}")
    context.close()


if __name__ == "__main__":
    main()
