"""Structured output on the default model (SmolLM2-135M via MLX).

Default mode: per-token decode cost of constrained vs unconstrained generation (runs
alternate, same prompt, same token count) and the mask time per token (µs: ``mask()`` +
``advance()``, replayed on the CPU over the tokens each schema's answer used).
``--validate``: the issue's check: every schema of tests/data/structured_schemas.json,
greedy plus ``--seeds`` sampled runs; every output that ends with ``stop`` must parse and
validate with ``jsonschema`` (prints the pass rate and the wall time).

    python benchmarks/structured_output.py [--schemas 5] [--repeats 3] [--tokens 24]
    python benchmarks/structured_output.py --validate [--seeds 3] [--max-tokens 64]
    python benchmarks/structured_output.py --mask-only   (mask µs/token of all 20 schemas, no decoding)
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time
from pathlib import Path
from typing import Any

import jsonschema

import lmstream
from lmstream.pipeline import build_constraint

SCHEMAS = json.loads((Path(__file__).resolve().parent.parent / "tests" / "data" /
                      "structured_schemas.json").read_text(encoding="utf-8"))


def messages_for(item: dict[str, Any]) -> list[dict[str, str]]:
    """The chat prompt asking for one schema's JSON."""
    return [{"role": "user", "content": f"Reply with JSON only: {item['about']}. "
                                        f"JSON schema: {json.dumps(item['schema'])}"}]


def fmt(item: dict[str, Any]) -> dict[str, Any]:
    """The response_format of one schema."""
    return {"type": "json_schema", "json_schema": {"name": item["name"], "schema": item["schema"]}}


def per_token_s(info: lmstream.Info) -> float:
    """Decode seconds per token after the first (prefill excluded)."""
    stats = info.stats
    return stats.decode_s / max(stats.generated_tokens - 1, 1)


def mask_us(ctx: lmstream.ModelContext, item: dict[str, Any], tokens: tuple[int, ...]) -> float:
    """µs per token of mask() + advance(), replaying the answer's tokens on a fresh constraint."""
    lm_input = ctx.prepare(lmstream.UserInput(messages=messages_for(item)))
    params = lmstream.GenerationParameters(response_format=fmt(item))
    best = float("inf")
    for _ in range(3):
        constraint = build_constraint(ctx, params, lm_input)
        assert constraint is not None
        start = time.perf_counter()
        for token in tokens:
            constraint.mask()
            constraint.advance(token)
        best = min(best, (time.perf_counter() - start) / max(len(tokens), 1))
    return best * 1e6


def mask_only(ctx: lmstream.ModelContext, limit: int = 64) -> None:
    """Mask µs/token for every schema without decoding: the constraint drives itself (each step
    takes the allowed token a deterministic walker picks), so no model time is measured."""
    import numpy as np

    print(f"{'schema':<12} {'tokens':>6} {'mask µs/tok':>11}  (mask() + advance(), best of 3)")
    for item in SCHEMAS:
        lm_input = ctx.prepare(lmstream.UserInput(messages=messages_for(item)))
        params = lmstream.GenerationParameters(response_format=fmt(item), constrain_reasoning=True)
        best, count = float("inf"), 0
        for _ in range(3):
            constraint = build_constraint(ctx, params, lm_input)
            assert constraint is not None
            count = 0
            start = time.perf_counter()
            while count < limit:
                mask = constraint.mask()
                assert mask is not None
                allowed = np.flatnonzero(mask)
                token = int(allowed[len(allowed) // 2])  # a middle token: varied, deterministic
                count += 1
                if token in constraint.eos_token_ids:
                    break
                constraint.advance(token)
            best = min(best, (time.perf_counter() - start) / count)
        print(f"{item['name']:<12} {count:>6} {best * 1e6:>11.0f}")


def overhead(ctx: lmstream.ModelContext, count: int, repeats: int, tokens: int) -> None:
    """Constrained vs unconstrained per-token decode time, alternating, plus mask µs/token."""
    print(f"{'schema':<12} {'free ms/tok':>11} {'constr ms/tok':>13} {'ratio':>6} {'mask µs/tok':>11}")
    ratios = []
    for item in SCHEMAS[:count]:
        free: list[float] = []
        constrained: list[float] = []
        answer: tuple[int, ...] = ()
        for _ in range(repeats):
            # min_tokens is not a parameter: the free run gets the same budget and must not stop
            # early, so it generates a long answer; the constrained one is bounded by its schema
            result = ctx.generate(messages=messages_for(item), response_format=fmt(item), max_tokens=tokens)
            constrained.append(per_token_s(result.info))
            answer = result.token_ids
            result = ctx.generate(messages=messages_for(item), max_tokens=max(result.generated_tokens, 2))
            free.append(per_token_s(result.info))
        f, c = statistics.median(free), statistics.median(constrained)
        ratios.append(c / f)
        print(f"{item['name']:<12} {f * 1e3:>11.1f} {c * 1e3:>13.1f} {c / f:>6.2f} "
              f"{mask_us(ctx, item, answer):>11.0f}")
    print(f"median constrained/unconstrained per-token decode time: {statistics.median(ratios):.3f} "
          f"(goal <= 1.10)")


def validate(ctx: lmstream.ModelContext, seeds: int, max_tokens: int) -> int:
    """Every schema greedy + sampled; returns the number of invalid `stop` outputs."""
    start = time.perf_counter()
    runs = stops = invalid = 0
    for item in SCHEMAS:
        settings: list[dict[str, Any]] = [{"temperature": 0.0}]
        settings += [{"temperature": 0.8, "seed": seed} for seed in range(seeds)]
        for setting in settings:
            result = ctx.generate(messages=messages_for(item), response_format=fmt(item),
                                  max_tokens=max_tokens, **setting)
            runs += 1
            ok = "-"
            if result.stop_reason == "stop":
                stops += 1
                try:
                    jsonschema.validate(json.loads(result.text), item["schema"])
                    ok = "valid"
                except (ValueError, jsonschema.ValidationError) as exc:
                    invalid += 1
                    ok = f"INVALID: {exc}"[:80]
            print(f"{item['name']:<12} {setting!s:<34} {result.stop_reason.value:<7} {ok} {result.text[:70]}")
    wall = time.perf_counter() - start
    print(f"{runs} runs, {stops} ended with stop, {stops - invalid}/{stops} valid, "
          f"{invalid} invalid; {wall:.0f} s wall")
    return invalid


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--validate", action="store_true")
    parser.add_argument("--mask-only", action="store_true")
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--max-tokens", type=int, default=64)
    parser.add_argument("--schemas", type=int, default=5)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--tokens", type=int, default=48)
    args = parser.parse_args(argv)
    print(f"load average: {os.getloadavg()[0]:.2f} on {os.cpu_count()} CPUs")
    with lmstream.load() as ctx:
        ctx.generate("warm up", max_tokens=4)
        if args.validate:
            return 1 if validate(ctx, args.seeds, args.max_tokens) else 0
        if args.mask_only:
            mask_only(ctx)
            return 0
        overhead(ctx, args.schemas, args.repeats, args.tokens)
    return 0


if __name__ == "__main__":
    sys.exit(main())
