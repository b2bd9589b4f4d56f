"""Concurrent agents with distinct system prompts under a prefix-cache budget that holds only some.

``--agents`` agents (default 8), each with its own ~2,000-token system prompt (they share no
prefix), run their ``--turns``-turn conversations at once against one ``lmstream serve``
(127.0.0.1, free port) whose ``--prefix-cache-bytes`` holds only ``--fit`` of them (default 4).

1. Probe (unless ``--budget-bytes`` is given): one agent's whole conversation on a server with
   the default budget; ``lmstream_server_prefix_cache_bytes`` afterwards is one agent's
   footprint; the budget is ``(fit + 0.5) x`` that.
2. Baseline (unless ``--no-baseline``): the agents at once with the prefix cache off; the
   server's peak RSS is the memory the run needs without any cache entry.
3. The agents at once under the budget: errors, peak RSS (sampled from /proc/<pid>/status
   every ``--sample-s``), the prefix cache's counters from /metrics.

Goals (issue 21): no errors; peak RSS <= baseline peak + budget x 1.1 (without a baseline run:
the RSS after one warm-up request); the cache's bytes within the budget; hit rate reported
(lookups that reused tokens, and the share of prompt tokens served from the cache).

    python benchmarks/agent_concurrent.py [--backend llama_cpp] [--agents 8] [--fit 4] [--turns 3]
    python benchmarks/agent_concurrent.py --quick          # 8 agents, 2 turns, 150-token prompts

Timings and RSS depend on the machine: run it on a quiet machine and say the load.
"""

from __future__ import annotations

import argparse
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

sys.path.insert(0, str(Path(__file__).parent))
from agent_conversation import (
    Turn,
    chat_turn,
    lmstream_command,
    metric_total,
    system_prompt,
    turn_messages,
)
from server_load import free_port, rss_bytes, start, stop

SERIES = ("lookups_total", "hits_total", "hit_tokens_total", "miss_tokens_total", "evictions_total",
          "bytes", "capacity_bytes", "entries")
RSS_MARGIN = 0.10


@dataclass
class Run:
    """What one run of the agents measured."""

    turns: dict[int, list[Turn]] = field(default_factory=dict)
    """Agent -> its turns."""
    idle_rss: int = 0
    peak_rss: int = 0
    peak_cache_bytes: float = 0.0
    metrics: dict[str, float] = field(default_factory=dict)
    wall_s: float = 0.0

    @property
    def errors(self) -> list[str]:
        """Every failed turn, named."""
        return [f"agent {a} turn {n}: {t.error}" for a, turns in sorted(self.turns.items())
                for n, t in enumerate(turns, start=1) if t.error]


def cache_metrics(client: httpx.Client, base: str) -> dict[str, float]:
    """The prefix cache's series from /metrics (missing ones left out)."""
    text = client.get(f"{base}/metrics", timeout=10).text
    found = {name: metric_total(text, f"lmstream_server_prefix_cache_{name}") for name in SERIES}
    return {name: value for name, value in found.items() if value is not None}


class Sampler(threading.Thread):
    """Samples a process's RSS and the prefix cache's bytes until stopped (peaks kept)."""

    def __init__(self, pid: int, base: str, every_s: float) -> None:
        super().__init__(daemon=True)
        self.pid, self.base, self.every_s = pid, base, every_s
        self.peak_rss = 0
        self.peak_cache_bytes = 0.0
        self.done = threading.Event()

    def run(self) -> None:
        with httpx.Client() as client:
            while not self.done.is_set():
                try:
                    self.peak_rss = max(self.peak_rss, rss_bytes(self.pid))
                    held = cache_metrics(client, self.base).get("bytes", 0.0)
                    self.peak_cache_bytes = max(self.peak_cache_bytes, held)
                except (OSError, ValueError, httpx.HTTPError):
                    pass  # the process is ending; the last sample stands
                self.done.wait(self.every_s)


def agent(index: int, base: str, model: str, args: argparse.Namespace, out: dict[int, list[Turn]]) -> None:
    """One agent's conversation, turn after turn (its own system prompt)."""
    messages: list[dict[str, Any]] = [{"role": "system", "content": system_prompt(args.system_tokens, index)}]
    turns: list[Turn] = []
    out[index] = turns
    with httpx.Client() as client:
        for n in range(1, args.turns + 1):
            messages += turn_messages(n, False)
            turn = chat_turn(client, base, model, messages, args.max_tokens, False, args.timeout)
            turns.append(turn)
            if turn.error:
                return


def run_agents(label: str, budget: int, agents: list[int], args: argparse.Namespace) -> Run:
    """Start a server with ``budget`` prefix-cache bytes, run ``agents`` at once, stop it."""
    from lmstream.backend import DEFAULT_NAME

    port = free_port()
    base = f"http://127.0.0.1:{port}"
    command = lmstream_command(args.backend, port, DEFAULT_NAME, args, [
        "--prefix-cache-bytes", str(budget), "--max-batch-size", str(max(1, len(agents)))])
    process = start(command, port, args.startup_timeout)
    run = Run()
    try:
        with httpx.Client() as client:
            warm = chat_turn(client, base, DEFAULT_NAME, [{"role": "user", "content": "Warm up."}], 2, False,
                             args.timeout)
            if warm.error:
                raise RuntimeError(f"{label}: the warm-up request failed: {warm.error}")
            run.idle_rss = rss_bytes(process.pid)
            sampler = Sampler(process.pid, base, args.sample_s)
            sampler.start()
            started = time.perf_counter()
            threads = [threading.Thread(target=agent, args=(a, base, DEFAULT_NAME, args, run.turns), daemon=True)
                       for a in agents]
            for thread in threads:
                thread.start()
            deadline = time.monotonic() + args.timeout * args.turns
            for thread in threads:
                thread.join(max(0.0, deadline - time.monotonic()))
            run.wall_s = time.perf_counter() - started
            sampler.done.set()
            sampler.join(30)
            if any(thread.is_alive() for thread in threads):
                raise TimeoutError(f"{label}: agents still running after {args.timeout * args.turns:.0f} s")
            run.peak_rss = max(sampler.peak_rss, rss_bytes(process.pid))
            run.metrics = cache_metrics(client, base)
            run.peak_cache_bytes = max(sampler.peak_cache_bytes, run.metrics.get("bytes", 0.0))
    finally:
        stop(process)
    return run


def mib(n: float) -> str:
    """Bytes in MiB."""
    return f"{n / 2**20:.1f} MiB"


def report(run: Run, budget: int, baseline: Run | None, one: float | None, args: argparse.Namespace) -> bool:
    """Print the per-turn cached shares, the counters and the goals; True if all passed."""
    for n in range(1, args.turns + 1):
        turns = [t[n - 1] for t in run.turns.values() if len(t) >= n and not t[n - 1].error]
        cached = sum(t.cached_tokens or 0 for t in turns)
        prompt = sum(t.prompt_tokens for t in turns)
        ttft = sorted(t.ttft_s for t in turns)
        print(f"turn {n}: {len(turns)} agents, {cached}/{prompt} prompt tokens cached "
              f"({100 * cached / max(1, prompt):.1f}%), TTFT median {ttft[len(ttft) // 2] if ttft else 0:.2f} s "
              f"max {ttft[-1] if ttft else 0:.2f} s")
    m = run.metrics
    lookups, hits = m.get("lookups_total", 0), m.get("hits_total", 0)
    hit_tokens, miss_tokens = m.get("hit_tokens_total", 0), m.get("miss_tokens_total", 0)
    print(f"prefix cache: {int(lookups)} lookups, {int(hits)} hits ({100 * hits / max(1, lookups):.1f}%), "
          f"{int(hit_tokens)} hit tokens / {int(hit_tokens + miss_tokens)} "
          f"({100 * hit_tokens / max(1, hit_tokens + miss_tokens):.1f}% of prompt tokens), "
          f"{int(m.get('evictions_total', 0))} evictions, {int(m.get('entries', 0))} entries, "
          f"peak {mib(run.peak_cache_bytes)} of {mib(budget)}; wall {run.wall_s:.1f} s")
    floor, floor_name = ((baseline.peak_rss, "peak RSS with the cache off") if baseline is not None
                         else (run.idle_rss, "RSS after warm-up"))
    limit = floor + budget * (1 + RSS_MARGIN)
    errors = run.errors + (baseline.errors if baseline is not None else [])
    checks = [
        (not errors, f"no errors ({len(errors)})" + (f": {errors[:3]}" if errors else "")),
        (run.peak_cache_bytes <= budget, f"cache bytes within the budget (peak {mib(run.peak_cache_bytes)})"),
        (run.peak_rss <= limit, f"peak RSS {mib(run.peak_rss)} <= {floor_name} {mib(floor)} + budget "
                                f"x {1 + RSS_MARGIN:.1f} = {mib(limit)}"),
    ]
    entry = f"; one agent's entry {mib(one)} (room for a generation's own state is made before it is saved)" \
        if one else ""
    print(f"RSS grew {mib(run.peak_rss - floor)} over the {floor_name}: budget {mib(budget)}{entry}")
    print("goals:")
    for ok, text in checks:
        print(f"  {'PASS' if ok else 'FAIL'} {text}")
    return all(ok for ok, _ in checks)


def parse(argv: list[str] | None) -> argparse.Namespace:
    """Command-line options; ``--quick`` fills in small defaults for what is not given."""
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n")[0])
    parser.add_argument("--backend", default="llama_cpp", choices=["llama_cpp", "mlx"])
    parser.add_argument("--agents", type=int, default=8)
    parser.add_argument("--fit", type=int, default=4, help="agents the budget holds")
    parser.add_argument("--turns", type=int, help="turns per agent (default 3; --quick 2)")
    parser.add_argument("--system-tokens", type=int, help="system prompt size (default 2000; --quick 150)")
    parser.add_argument("--max-tokens", type=int, help="tokens generated per turn (default 8; --quick 2)")
    parser.add_argument("--budget-bytes", type=int, help="the budget (default: probed, see above)")
    parser.add_argument("--no-baseline", action="store_true", help="skip the cache-off run")
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--n-ctx", type=int, default=0, help="llama.cpp context (default: 8192 per 2 agents)")
    parser.add_argument("--sample-s", type=float, default=0.1, help="RSS sampling period")
    parser.add_argument("--timeout", type=float, default=900.0, help="seconds per request at most")
    parser.add_argument("--startup-timeout", type=float, default=300.0)
    args = parser.parse_args(argv)
    for name, value in {"turns": 2 if args.quick else 3, "system_tokens": 150 if args.quick else 2000,
                        "max_tokens": 2 if args.quick else 8}.items():
        if getattr(args, name) is None:
            setattr(args, name, value)
    if min(args.agents, args.fit, args.turns, args.max_tokens) < 1 or args.fit > args.agents:
        parser.error("--agents, --fit, --turns, --max-tokens must be >= 1 and --fit <= --agents")
    if not args.n_ctx:  # every agent's longest prompt plus its answers, with room
        args.n_ctx = 1024 * (-(-(args.agents * (args.system_tokens + 200 * args.turns) * 3 // 2) // 1024))
    return args


def main(argv: list[str] | None = None) -> int:
    """Probe, baseline, budgeted run; exit status 1 if a goal failed."""
    args = parse(argv)
    agents = list(range(args.agents))
    budget = args.budget_bytes
    one = None
    if budget is None:
        probe = run_agents("probe", 1 << 40, [args.agents], args)
        one = probe.metrics.get("bytes", 0.0)
        if probe.errors or one <= 0:
            print(f"probe failed: {probe.errors or 'no prefix cache bytes reported'}")
            return 1
        budget = int((args.fit + 0.5) * one)
        print(f"one agent's conversation holds {mib(one)}; budget for {args.fit} of {args.agents}: {mib(budget)}")
    baseline = None
    if not args.no_baseline:
        baseline = run_agents("baseline", 0, agents, args)
        print(f"cache off: peak RSS {mib(baseline.peak_rss)} (after warm-up {mib(baseline.idle_rss)}), "
              f"wall {baseline.wall_s:.1f} s, errors {len(baseline.errors)}")
    run = run_agents("budget", budget, agents, args)
    print(f"budget {mib(budget)}: peak RSS {mib(run.peak_rss)} (after warm-up {mib(run.idle_rss)})")
    return 0 if report(run, budget, baseline, one, args) else 1


if __name__ == "__main__":
    sys.exit(main())
