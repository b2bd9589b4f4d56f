"""Tool-call parsing inside one open call: a call carrying a large argument, fed in token-sized
(4-character) deltas, with and without argument deltas (``stream_deltas``), per format.

Goal (issue 12): 10 MB of arguments in 4-character deltas in under 2 s for every format. The
figures are MB/s and the seconds 10 MB would take at that rate (measured on ``--size`` MB).
The calls are the ones tests/toolcalls/test_large_arguments.py checks for correctness.

    python benchmarks/toolcall_large_arguments.py [--size MB] [--formats json,mistral] [--repeat N]

Exit status 1 when a format would take longer than the goal.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import lmstream

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests" / "toolcalls"))
from test_large_arguments import CALLS

GOAL_S = 2.0
GOAL_MB = 10.0
TOOLS = [{"name": "search",
          "parameters": {"type": "object", "properties": {"q": {"type": "string"}}}}]


def argument(size: int) -> str:
    """Prose with the punctuation real arguments carry (no quotes: every format holds it)."""
    return ("alpha beta, gamma: delta (epsilon) " * (size // 35 + 1))[:size]


def parse_seconds(name: str, text: str, deltas: bool) -> tuple[float, bool]:
    """Seconds to feed ``text`` in 4-character deltas and finish; whether a call came out."""
    parser = lmstream.get_plugin_system().tool_parsers.get(name)(TOOLS)
    if deltas:
        parser.stream_deltas(True)
    feed = parser.feed
    started = time.perf_counter()
    for i in range(0, len(text), 4):
        feed(text[i:i + 4])
    events = parser.finish()
    seconds = time.perf_counter() - started
    return seconds, any(isinstance(e, lmstream.ToolCall) for e in events)


def main(argv: list[str] | None = None) -> int:
    args = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    args.add_argument("--size", type=float, default=2.0, help="MB of argument per call")
    args.add_argument("--formats", default="", help="comma-separated names (default: all)")
    args.add_argument("--repeat", type=int, default=1, help="best of N runs")
    opts = args.parse_args(argv)
    names = [n for n in opts.formats.split(",") if n] or list(CALLS)
    arg = argument(int(opts.size * 1e6))
    print(f"argument {opts.size:.1f} MB in 4-char deltas; MB/s "
          f"(s for {GOAL_MB:.0f} MB at that rate); goal < {GOAL_S:.0f} s")
    failed = []
    for name in names:
        text = CALLS[name](arg)
        row = []
        for deltas in (False, True):
            runs = [parse_seconds(name, text, deltas) for _ in range(opts.repeat)]
            seconds = min(s for s, _ in runs)
            rate = len(text) / seconds / 1e6
            row.append(f"{rate:5.2f} ({GOAL_MB / rate:4.1f} s)"
                       f"{'' if all(ok for _, ok in runs) else ' NOCALL'}")
            if GOAL_MB / rate >= GOAL_S or not all(ok for _, ok in runs):
                failed.append(f"{name}{'+d' if deltas else ''}")

        print(f"{name:14} plain {row[0]}   deltas {row[1]}", flush=True)
    print("goal met" if not failed else "over the goal: " + ", ".join(failed))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
