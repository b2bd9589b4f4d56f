"""A short chat request arriving behind a long prompt: its total time against its solo time.

On the default model (the embedded SmolLM2-135M-Instruct GGUF), per backend (``mlx``, the
README's path, and ``llama_cpp``), one context each, in one process:

- ``solo``: the short chat request alone (greedy, EOS allowed, ``--max-tokens`` at most), from
  submission to its ``Info``; and the long prompt's time to first token alone;
- ``behind``: the long prompt (``--long`` tokens, a templated chat message cut to that length)
  is submitted, and ``--delay`` seconds later the same short request; both timed the same way.

The goal (issue: "a short request arriving behind a long one finishes within 1.5x its solo
time") is the ``behind / solo`` ratio of the short request. The scheduler prefills the shortest
remaining prompt first and paces the long prefill while the short stream decodes
(docs/streaming.md). ``os.getloadavg()`` is printed before and after: figures taken on a
loaded machine say little.

    python benchmarks/short_behind_long.py [--backends mlx,llama_cpp] [--long 2000]
        [--delay 0.5] [--max-tokens 48] [--runs 1] [--prefill-chunk-s 0.25] [-o KEY=VALUE ...]

``-o`` passes more load options to every backend (e.g. ``-o flash_attn=true`` on llama_cpp;
values are parsed as JSON where they parse, else kept as text).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import threading
import time
from typing import Any

import lmstream

TEXT = ("The river ran past the old mill, where the miller's daughter counted sacks of grain "
        "and wrote the numbers in a ledger her grandfather had started. ")
SHORT = "What is the capital of France? Answer in one sentence."


def chat_prompt(context: Any, text: str, length: int | None = None) -> tuple[int, ...]:
    """A chat-templated user message as token ids, cut to ``length`` tokens when given."""
    tokens = tuple(context.prepare(lmstream.UserInput(messages=[{"role": "user", "content": text}])).tokens)
    if length is None:
        return tokens
    assert len(tokens) >= length, (len(tokens), length)
    return tokens[:length]


def timed(context: Any, prompt: tuple[int, ...], max_tokens: int, out: dict[str, float]) -> None:
    """Run one generation; ``out`` gets its time to first token and total seconds."""
    start = time.perf_counter()
    for event in lmstream.generate_tokens(lmstream.LMInput(tokens=prompt), context=context,
                                          parameters={"max_tokens": max_tokens}):
        if isinstance(event, lmstream.Token) and "ttft" not in out:
            out["ttft"] = time.perf_counter() - start
        elif isinstance(event, lmstream.Info):
            if event.error is not None:
                raise event.error
            out["tokens"] = event.stats.generated_tokens
    out["total"] = time.perf_counter() - start


def one_round(context: Any, long: tuple[int, ...], short: tuple[int, ...], max_tokens: int,
              delay: float) -> dict[str, float]:
    """Solo short, solo long (time to first token), then the short ``delay`` s behind the long."""
    solo: dict[str, float] = {}
    timed(context, short, max_tokens, solo)
    long_solo: dict[str, float] = {}
    timed(context, long, 1, long_solo)
    long_behind: dict[str, float] = {}
    thread = threading.Thread(target=timed, args=(context, long, 16, long_behind))
    thread.start()
    time.sleep(delay)
    behind: dict[str, float] = {}
    timed(context, short, max_tokens, behind)
    thread.join()
    return {"solo": solo["total"], "behind": behind["total"], "solo_ttft": solo["ttft"],
            "behind_ttft": behind["ttft"], "tokens": behind["tokens"],
            "long_ttft_solo": long_solo["ttft"], "long_ttft_with_short": long_behind["ttft"]}


def load_option(text: str) -> tuple[str, Any]:
    """``KEY=VALUE`` -> (key, value parsed as JSON, else the text)."""
    key, _, value = text.partition("=")
    try:
        return key, json.loads(value)
    except json.JSONDecodeError:
        return key, value


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("--backends", default="mlx,llama_cpp")
    parser.add_argument("--long", type=int, default=2000, help="tokens of the long prompt")
    parser.add_argument("--delay", type=float, default=0.5, help="seconds before the short one")
    parser.add_argument("--max-tokens", type=int, default=48)
    parser.add_argument("--runs", type=int, default=1, help="rounds per backend (medians)")
    parser.add_argument("--prefill-chunk-s", type=float, default=None,
                        help="the load option (default: the scheduler's): the short request "
                             "waits for the long prompt's chunk in flight when it arrives")
    parser.add_argument("-o", "--option", action="append", default=[], metavar="KEY=VALUE",
                        help="a load option for every backend (repeatable)")
    args = parser.parse_args()
    print(f"load average before: {os.getloadavg()}")
    print("| backend | short solo s | short behind s | ratio (goal <= 1.5) | short TTFT solo / "
          "behind s | long TTFT solo / with short s |")
    print("|---|---|---|---|---|---|")
    for backend in [b for b in args.backends.split(",") if b]:
        options: dict[str, Any] = {"prefix_cache_bytes": 0}  # every round prefills in full
        if args.prefill_chunk_s is not None:
            options["prefill_chunk_s"] = args.prefill_chunk_s
        if backend == "llama_cpp":
            options["n_ctx"] = 2 * (args.long + args.max_tokens + 256)
        options.update(load_option(text) for text in args.option)
        try:
            context = lmstream.load(backend=backend, **options)
        except Exception as exc:  # an extra not installed: say so, measure the others
            print(f"| {backend} | not run: {type(exc).__name__}: {exc} |")
            continue
        try:
            long = chat_prompt(context, TEXT * (args.long // 20 + 4), args.long)
            short = chat_prompt(context, SHORT)
            timed(context, short, 4, {})  # warm-up (first-call compilation, caches)
            rounds = [one_round(context, long, short, args.max_tokens, args.delay)
                      for _ in range(args.runs)]
        finally:
            context.close()
        figure = {key: statistics.median(r[key] for r in rounds) for key in rounds[0]}
        print(f"| {backend} | {figure['solo']:.2f} | {figure['behind']:.2f} | "
              f"{figure['behind'] / figure['solo']:.2f}x | {figure['solo_ttft']:.2f} / "
              f"{figure['behind_ttft']:.2f} | {figure['long_ttft_solo']:.2f} / "
              f"{figure['long_ttft_with_short']:.2f} |")
    print(f"load average after: {os.getloadavg()}  (prompt {args.long} tokens, short request "
          f"{args.max_tokens} tokens at most, {args.delay} s behind, {args.runs} run(s), medians)")


if __name__ == "__main__":
    main()
