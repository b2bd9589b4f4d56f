"""Tool-call parser throughput, MB/s per format, against a bare ``str.find`` loop.

Texts: ``plain`` prose without any character that can start a marker (the common case, served
by the fast path), ``markdown`` prose with brackets, braces and angle brackets (the slow path
without calls), and ``calls``: about half of the text is tool calls of the format. Each is fed
in token-sized deltas (4 characters, what a pipeline feeds) and in 4096-character deltas;
the ``+d`` columns feed 4-character deltas with argument deltas on (``stream_tool_calls``).
The baseline runs ``delta.find("<")`` over the same deltas in a bare loop, in the same run.

    python benchmarks/toolcall_parsing.py [--size MB] [--formats json,mistral] [--repeat N]

Exit status 1 when a format reads plain text (4096-character deltas) slower than the budget.
"""

from __future__ import annotations

import argparse
import json
import platform
import random
import sys
import time
from collections.abc import Callable

import lmstream

BUDGET_MB_S = 20.0
WORDS = ("the model streams tokens while the parser decides what each piece of text means and "
         "hands content straight through when nothing in it could start a tool call marker").split()
MARKDOWN = ["[link](https://example.com)", "{x: 1}", "a < b", "(see above)", "`code`", "<b>",
            "f(x)", "list[0]", "1; 2"]


def plain_text(size: int, seed: int = 1) -> str:
    rng = random.Random(seed)
    out, total = [], 0
    while total < size:
        word = rng.choice(WORDS) + rng.choice([" ", " ", " ", ", ", ". ", ".\n"])
        out.append(word)
        total += len(word)
    return "".join(out)[:size]


def markdown_text(size: int, seed: int = 2) -> str:
    rng = random.Random(seed)
    out, total = [], 0
    while total < size:
        word = rng.choice(MARKDOWN) if rng.random() < 0.08 else rng.choice(WORDS)
        out.append(word + " ")
        total += len(word) + 1
    return "".join(out)[:size]


def _args(i: int) -> dict[str, object]:
    return {"city": f"City {i}", "days": i % 7, "units": "metric", "note": "quoted \"text\""}


def _j(i: int) -> str:
    return json.dumps(_args(i))


CALLS: dict[str, Callable[[int], str]] = {
    "json": lambda i: f'<tool_call>\n{{"name": "get_weather", "arguments": {_j(i)}}}\n</tool_call>',
    "llama3_json": lambda i: f'<|python_tag|>{{"name": "get_weather", "parameters": {_j(i)}}}',
    "pythonic": lambda i: f"[get_weather(city='City {i}', days={i % 7}, units='metric')]",
    "lfm2": lambda i: f"<|tool_call_start|>[get_weather(city='City {i}', days={i % 7})]"
                      "<|tool_call_end|>",
    "mistral": lambda i: f"[TOOL_CALLS]get_weather[ARGS]{_j(i)}",
    "qwen3_coder": lambda i: (f"<tool_call>\n<function=get_weather>\n<parameter=city>\nCity {i}\n"
                              f"</parameter>\n<parameter=days>\n{i % 7}\n</parameter>\n</function>"
                              "\n</tool_call>"),
    "seed_oss": lambda i: (f"<seed:tool_call>\n<function=get_weather>\n<parameter=city>\nCity {i}"
                           "\n</parameter>\n</function>\n</seed:tool_call>"),
    "glm45": lambda i: (f"<tool_call>get_weather\n<arg_key>city</arg_key>\n<arg_value>City {i}"
                        "</arg_value>\n</tool_call>"),
    "glm47": lambda i: (f"<tool_call>get_weather<arg_key>city</arg_key><arg_value>City {i}"
                        "</arg_value></tool_call>"),
    "deepseek_v3": lambda i: ("<｜tool▁calls▁begin｜><｜tool▁call▁begin｜>function<｜tool▁sep｜>"
                              f"get_weather\n```json\n{_j(i)}\n```<｜tool▁call▁end｜>"
                              "<｜tool▁calls▁end｜>"),
    "deepseek_v31": lambda i: ("<｜tool▁calls▁begin｜><｜tool▁call▁begin｜>get_weather<｜tool▁sep｜>"
                               f"{_j(i)}<｜tool▁call▁end｜><｜tool▁calls▁end｜>"),
    "deepseek_v32": lambda i: ('<｜DSML｜function_calls>\n<｜DSML｜invoke name="get_weather">\n'
                               f'<｜DSML｜parameter name="city" string="true">City {i}'
                               "</｜DSML｜parameter>\n</｜DSML｜invoke>\n</｜DSML｜function_calls>"),
    "kimi_k2": lambda i: ("<|tool_calls_section_begin|><|tool_call_begin|>functions.get_weather:"
                          f"{i}<|tool_call_argument_begin|>{_j(i)}<|tool_call_end|>"
                          "<|tool_calls_section_end|>"),
    "minimax_m2": lambda i: ('<minimax:tool_call>\n<invoke name="get_weather">\n'
                             f'<parameter name="city">City {i}</parameter>\n</invoke>\n'
                             "</minimax:tool_call>"),
    "gemma4": lambda i: f'<|tool_call>call:get_weather{{city:<|"|>City {i}<|"|>,days:{i % 7}}}'
                        "<tool_call|>",
    "function_gemma": lambda i: (f"<start_function_call>call:get_weather{{city:<escape>City {i}"
                                 f"<escape>,days:{i % 7}}}<end_function_call>"),
    "harmony": lambda i: ("<|start|>assistant<|channel|>commentary to=functions.get_weather "
                          f"<|constrain|>json<|message|>{_j(i)}<|call|>"),
    "granite": lambda i: f'<|tool_call|>[{{"name": "get_weather", "arguments": {_j(i)}}}]',
    "phi4_mini": lambda i: f'functools[{{"name": "get_weather", "arguments": {_j(i)}}}]',
}


def call_text(name: str, size: int) -> str:
    out, total, i = [], 0, 0
    while total < size:
        piece = plain_text(len(CALLS[name](i)), seed=i) + CALLS[name](i)
        out.append(piece)
        total += len(piece)
        i += 1
    return "".join(out)


def pieces(text: str, size: int) -> list[str]:
    return [text[i:i + size] for i in range(0, len(text), size)]


def parse_seconds(name: str, deltas: list[str], stream: bool = False) -> float:
    parser = lmstream.get_tool_parser(name)
    if stream:
        parser.stream_deltas(True)  # type: ignore[attr-defined]
    feed = parser.feed
    started = time.perf_counter()
    for delta in deltas:
        feed(delta)
    parser.finish()
    return time.perf_counter() - started


def baseline_seconds(deltas: list[str]) -> float:
    started = time.perf_counter()
    for delta in deltas:
        delta.find("<")
    return time.perf_counter() - started


def best(measure: Callable[[], float], repeat: int) -> float:
    return min(measure() for _ in range(repeat))


def main(argv: list[str] | None = None) -> int:
    args = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    args.add_argument("--size", type=float, default=1.0, help="MB of text per measurement")
    args.add_argument("--formats", default="", help="comma-separated names (default: all)")
    args.add_argument("--repeat", type=int, default=3, help="best of N runs")
    opts = args.parse_args(argv)
    names = [n for n in opts.formats.split(",") if n] or sorted(CALLS)
    size = int(opts.size * 1_000_000)
    mb = size / 1e6
    texts = {"plain": plain_text(size), "markdown": markdown_text(size)}
    print(f"tool-call parsing, {mb:.1f} MB per text, best of {opts.repeat}; "
          f"Python {platform.python_version()} on {platform.machine()}")
    base = {d: mb / best(lambda d=d: baseline_seconds(pieces(texts["plain"], d)), opts.repeat)
            for d in (4, 4096)}
    print(f"baseline (bare str.find loop): {base[4]:.0f} MB/s in 4-char deltas, "
          f"{base[4096]:.0f} MB/s in 4096-char deltas")
    header = (f"{'format':<15}" + "".join(f"{c:>12}" for c in (
        "plain/4", "plain/4096", "md/4", "md/4096", "calls/4", "calls/4096", "plain/4+d",
        "calls/4+d")) + f"{'vs find':>9}")
    print(header)
    print("-" * len(header))
    failed = []
    for name in names:
        texts["calls"] = call_text(name, size)
        row = []
        for kind in ("plain", "markdown", "calls"):
            text = texts[kind]
            for d in (4, 4096):
                deltas = pieces(text, d)
                seconds = best(lambda n=name, ds=deltas: parse_seconds(n, ds), opts.repeat)
                row.append(len(text) / 1e6 / seconds)
        for kind in ("plain", "calls"):
            deltas = pieces(texts[kind], 4)
            seconds = best(lambda n=name, ds=deltas: parse_seconds(n, ds, True), opts.repeat)
            row.append(len(texts[kind]) / 1e6 / seconds)
        ratio = row[1] / base[4096]
        print(f"{name:<15}" + "".join(f"{v:>12.1f}" for v in row) + f"{ratio:>9.3f}")
        if row[1] < BUDGET_MB_S:
            failed.append(name)
    print(f"MB/s; 'vs find' = plain/4096 divided by the baseline's 4096-char figure. "
          f"Budget: plain/4096 >= {BUDGET_MB_S:.0f} MB/s: {'FAILED ' + ', '.join(failed) if failed else 'met'}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
