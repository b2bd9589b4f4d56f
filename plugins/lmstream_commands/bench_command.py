"""``lmstream bench``: a few short generations, then a table of prefill / decode tok/s and TTFT."""

from __future__ import annotations

import argparse
import statistics
from collections.abc import Sequence

from lmstream import GenerationParameters, Info, LMInput, ModelContext, StopReason, generate
from lmstream.cli import FAILED, OK, UsageError

from .console import Console, error_text
from .loading import open_context
from .plugins_command import table

FILLER = ("The history of the printing press begins with movable type, which let printers set "
          "a page from reusable letters instead of carving every page by hand. ")


def bench_prompt(context: ModelContext, length: int) -> LMInput:
    """A raw prompt of exactly ``length`` tokens (the filler text repeated and cut)."""
    per_filler = len(context.tokenizer.encode(FILLER, add_special_tokens=False))
    repeats = length // max(per_filler, 1) + 2
    tokens = context.tokenizer.encode(FILLER * repeats, add_special_tokens=True)
    if len(tokens) < length:
        raise ValueError(f"could not build a {length}-token prompt with this tokenizer")
    return LMInput(tokens=tuple(tokens[:length]), text=None)


def run_once(context: ModelContext, prompt: LMInput, max_tokens: int) -> Info:
    """One generation from scratch: a fresh cache of its own, so neither a session's cache nor the
    context's prefix cache serves the prompt (every run measures the whole prefill); its Info."""
    parameters = GenerationParameters(max_tokens=max_tokens, temperature=0.0)
    info: Info | None = None
    for event in generate(prompt, parameters=parameters, context=context, cache=context.new_cache()):
        if isinstance(event, Info):
            info = event
    assert info is not None
    return info


def rows_for(infos: Sequence[Info]) -> list[tuple[str, ...]]:
    """The table rows: one per run, then the mean."""
    rows: list[tuple[str, ...]] = [("run", "prompt", "prefill tok/s", "generated", "decode tok/s", "ttft ms")]
    for index, info in enumerate(infos, 1):
        s = info.stats
        rows.append((str(index), str(s.prompt_tokens), f"{s.prefill_tps:.1f}", str(s.generated_tokens),
                     f"{s.decode_tps:.1f}", f"{s.ttft_s * 1000:.1f}"))
    rows.append(("mean", f"{statistics.fmean(i.stats.prompt_tokens for i in infos):.0f}",
                 f"{statistics.fmean(i.stats.prefill_tps for i in infos):.1f}",
                 f"{statistics.fmean(i.stats.generated_tokens for i in infos):.1f}",
                 f"{statistics.fmean(i.stats.decode_tps for i in infos):.1f}",
                 f"{statistics.fmean(i.stats.ttft_s for i in infos) * 1000:.1f}"))
    return rows


def run_bench(args: argparse.Namespace, console: Console) -> int:
    """Warm up, measure ``args.runs`` generations and print the table."""
    if args.runs < 1 or args.warmup < 0 or args.prompt_tokens < 1 or args.max_tokens < 1:
        raise UsageError("--runs, --prompt-tokens and --max-tokens must be at least 1, --warmup at least 0")
    context = open_context(args, console)
    try:
        prompt = bench_prompt(context, args.prompt_tokens)
        infos: list[Info] = []
        for run in range(args.warmup + args.runs):
            info = run_once(context, prompt, args.max_tokens)
            if info.stop_reason is StopReason.ERROR:
                console.error(f"run {run + 1} failed: {error_text(info.error)}")
                return FAILED
            if run >= args.warmup:
                infos.append(info)
    finally:
        context.close()
    console.text(f"model: {context.info.name} (backend {context.info.backend}); "
                 f"{_count(args.runs, 'run')} after {_count(args.warmup, 'warm-up run')}, "
                 f"{args.prompt_tokens} prompt tokens, up to {args.max_tokens} generated\n")
    console.text("\n".join(table(rows_for(infos))) + "\n")
    peak = max((i.stats.peak_bytes for i in infos if i.stats.peak_bytes is not None), default=None)
    if peak is not None:
        console.text(f"peak memory: {peak / 2**20:.1f} MiB\n")
    return OK


def _count(number: int, noun: str) -> str:
    """``1 run``, ``2 runs``, ``0 warm-up runs``."""
    return f"{number} {noun}{'' if number == 1 else 's'}"
