"""`lmstream serve` against `mlx_lm.server` on the same weights: concurrent streaming clients.

Both servers run as subprocesses on 127.0.0.1 (free ports); the model is the embedded default
(SmolLM2-135M-Instruct): lmstream loads its GGUF, mlx-lm the same weights converted to an
mlx-lm directory. For 1, 8 and 32 concurrent streaming chat clients (greedy, EOS suppressed
with the same logit bias so every stream generates ``--max-tokens`` tokens) it measures, per
server: aggregate tokens/s, TTFT p50/p95, inter-token latency p50/p95 and errors. Levels
alternate between the servers (lmstream first on even rounds, mlx-lm first on odd ones).
Every request starts with a unique line, so neither server answers from a prompt cache.
Then the same at the highest level with 10% of clients disconnecting mid-stream: errors of
the others (goal 0) and the server's RSS before and after (goal: flat).

    python benchmarks/server_load.py [--levels 1,8,32] [--max-tokens 32] [--rounds 1]

Goals: throughput >= 1.0x mlx-lm's at 8 and 32 clients, p95 TTFT <= mlx-lm's. Every wait is
bounded (``--timeout`` per request); nothing leaves the loopback interface.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import secrets
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

PROMPT = "Write a long story about a dragon who learns to fly."


@dataclass
class Stream:
    """One client's figures."""

    ok: bool = False
    error: str = ""
    ttft_s: float = 0.0
    gaps: list[float] = field(default_factory=list)
    tokens: int = 0


@dataclass
class Level:
    """One load level on one server."""

    server: str
    clients: int
    wall_s: float
    streams: list[Stream]

    def row(self) -> dict[str, float]:
        good = [s for s in self.streams if s.ok]
        ttfts = sorted(s.ttft_s for s in good) or [0.0]
        gaps = sorted(g for s in good for g in s.gaps) or [0.0]
        return {"tok/s": sum(s.tokens for s in good) / self.wall_s if self.wall_s else 0.0,
                "ttft p50": pct(ttfts, 50), "ttft p95": pct(ttfts, 95),
                "itl p50": pct(gaps, 50), "itl p95": pct(gaps, 95),
                "errors": float(sum(1 for s in self.streams if not s.ok))}


def pct(values: list[float], q: float) -> float:
    """The q-th percentile (nearest rank) of sorted values."""
    index = max(0, min(len(values) - 1, round(q / 100 * len(values) + 0.5) - 1))
    return values[index]


def free_port() -> int:
    """A port free on 127.0.0.1."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def rss_bytes(pid: int) -> int:
    """Resident memory of a process (Linux /proc, else ps)."""
    status = Path(f"/proc/{pid}/status")
    if status.exists():
        for line in status.read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    out = subprocess.run(["ps", "-o", "rss=", "-p", str(pid)], capture_output=True, text=True).stdout
    return int(out.strip() or 0) * 1024


def start(command: list[str], port: int, timeout: float) -> subprocess.Popen[bytes]:
    """Start a server and wait (bounded) until it answers /v1/models."""
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                               env={**os.environ, "HF_HUB_OFFLINE": "1"})
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"{command[0]} exited with {process.returncode}")
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/v1/models", timeout=2):
                return process
        except OSError:
            time.sleep(0.2)
    process.kill()
    raise TimeoutError(f"{' '.join(command)} did not start in {timeout}s")


def stop(process: subprocess.Popen[bytes]) -> None:
    """SIGINT, then a bounded wait, then kill."""
    if process.poll() is None:
        process.send_signal(signal.SIGINT)
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=10)


async def one_stream(client: Any, url: str, body: dict[str, Any], leave_after: int | None,
                     timeout: float) -> Stream:
    """One streaming chat request, timed from the client side."""
    result = Stream()
    begin = time.perf_counter()
    last: float | None = None
    async def read() -> None:
        nonlocal last
        async with client.stream("POST", url, json=body) as response:
            if response.status_code != 200:
                result.error = f"HTTP {response.status_code}"
                return
            async for line in response.aiter_lines():
                if not line.startswith("data: ") or line == "data: [DONE]":
                    continue
                payload = json.loads(line[6:])
                if "error" in payload:
                    result.error = str(payload["error"])
                    return
                if payload.get("usage"):
                    result.tokens = payload["usage"].get("completion_tokens", result.tokens)
                choices = payload.get("choices") or []
                if not choices or not choices[0].get("delta", {}).get("content"):
                    continue
                now = time.perf_counter()
                if last is None:
                    result.ttft_s = now - begin
                else:
                    result.gaps.append(now - last)
                last = now
                if leave_after is not None and len(result.gaps) + 1 >= leave_after:
                    return  # leave on purpose: closing the response drops the connection
        result.ok = not result.error

    try:
        await asyncio.wait_for(read(), timeout)
        if leave_after is not None and not result.error:
            result.ok = True
        if not result.tokens:
            result.tokens = len(result.gaps) + (1 if last is not None else 0)
    except Exception as exc:
        result.error = f"{type(exc).__name__}: {exc}"
    return result


async def level(server: str, base: str, model: str, clients: int, max_tokens: int, bias: dict[str, float],
                leave_fraction: float, timeout: float) -> Level:
    """``clients`` concurrent streams; ``leave_fraction`` of them disconnect after 3 tokens."""
    import httpx

    leavers = round(clients * leave_fraction)

    def body(index: int) -> dict[str, Any]:
        # a unique first line per request: neither server can answer from a prompt cache
        content = f"Request {secrets.token_hex(4)}-{index}.\n{PROMPT}"
        return {"model": model, "stream": True, "max_tokens": max_tokens, "temperature": 0.0,
                "logit_bias": bias, "stream_options": {"include_usage": True},
                "messages": [{"role": "user", "content": content}]}

    limits = httpx.Limits(max_connections=clients + 4, max_keepalive_connections=clients + 4)
    async with httpx.AsyncClient(base_url=base, timeout=timeout, limits=limits) as client:
        begin = time.perf_counter()
        streams = await asyncio.gather(*(
            one_stream(client, "/v1/chat/completions", body(i), 3 if i < leavers else None, timeout)
            for i in range(clients)))
        wall = time.perf_counter() - begin
    stayed = list(streams[leavers:])
    return Level(server, clients, wall, stayed)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--levels", default="1,8,32", help="concurrent clients per level (default: %(default)s)")
    parser.add_argument("--max-tokens", type=int, default=32)
    parser.add_argument("--rounds", type=int, default=1, help="measured rounds per level (after one warm-up)")
    parser.add_argument("--timeout", type=float, default=600.0, help="seconds per request at most")
    parser.add_argument("--startup-timeout", type=float, default=300.0)
    parser.add_argument("--option", "-o", action="append", default=[], metavar="KEY=VALUE",
                        help="an lmstream serve load option, e.g. cpu_streams=1 (repeatable)")
    args = parser.parse_args()
    levels = [int(x) for x in args.levels.split(",") if x.strip()]

    import lmstream
    from lmstream_mlx.convert import gguf_to_mlx_lm
    from lmstream_mlx.loading import default_model_path

    context = lmstream.load(backend="mlx", prefix_cache_bytes=0)
    name = context.info.name
    bias = {str(eos): -100.0 for eos in context.tokenizer.eos_token_ids}
    context.close()
    ours_port, theirs_port = free_port(), free_port()
    with tempfile.TemporaryDirectory() as tmp:
        converted = gguf_to_mlx_lm(default_model_path(), Path(tmp) / "model")
        ours = start([sys.executable, "-m", "lmstream.cli", "serve", "--backend", "mlx", "--host", "127.0.0.1", "--port",
                      str(ours_port), "--served-model-name", name, "--max-queue", "256",
                      "--log-level", "warning", *(a for o in args.option for a in ("-o", o))], ours_port, args.startup_timeout)
        theirs = start([sys.executable, "-m", "mlx_lm.server", "--model", str(converted), "--host", "127.0.0.1",
                        "--port", str(theirs_port), "--log-level", "WARNING"], theirs_port, args.startup_timeout)
        servers = {"lmstream": (f"http://127.0.0.1:{ours_port}", name, ours),
                   "mlx-lm": (f"http://127.0.0.1:{theirs_port}", str(converted), theirs)}
        try:
            run_all(servers, levels, args, bias)
        finally:
            stop(ours)
            stop(theirs)


def run_all(servers: dict[str, tuple[str, str, Any]], levels: list[int], args: argparse.Namespace,
            bias: dict[str, float]) -> None:
    """Warm up, alternate the levels between the servers, print the tables."""
    load = os.getloadavg() if hasattr(os, "getloadavg") else (0.0, 0.0, 0.0)
    print(f"model: SmolLM2-135M-Instruct; {args.max_tokens} tokens per stream; load average at start "
          f"{load[0]:.2f} ({os.cpu_count()} CPUs)", flush=True)
    for label, (base, model, _) in servers.items():
        asyncio.run(level(label, base, model, 1, 4, bias, 0.0, args.timeout))  # warm-up
    results: dict[tuple[str, int], list[Level]] = {}
    for round_ in range(args.rounds):
        for clients in levels:
            order = list(servers) if round_ % 2 == 0 else list(reversed(servers))
            for label in order:
                base, model, _ = servers[label]
                measured = asyncio.run(level(label, base, model, clients, args.max_tokens, bias, 0.0, args.timeout))
                results.setdefault((label, clients), []).append(measured)
                row = measured.row()
                print(f"  {label:9s} {clients:3d} clients  {row['tok/s']:7.1f} tok/s  "
                      f"ttft p95 {row['ttft p95']:6.2f}s  errors {row['errors']:.0f}", flush=True)
    print()
    print(f"{'clients':>7s} {'server':9s} {'tok/s':>8s} {'ttft p50':>9s} {'ttft p95':>9s} "
          f"{'itl p50':>8s} {'itl p95':>8s} {'errors':>6s}")
    for clients in levels:
        for label in servers:
            rows = [lv.row() for lv in results[(label, clients)]]
            mean = {k: statistics.mean(r[k] for r in rows) for k in rows[0]}
            print(f"{clients:7d} {label:9s} {mean['tok/s']:8.1f} {mean['ttft p50']:9.3f} {mean['ttft p95']:9.3f} "
                  f"{mean['itl p50']:8.3f} {mean['itl p95']:8.3f} {mean['errors']:6.0f}")
        ours = statistics.mean(lv.row()["tok/s"] for lv in results[("lmstream", clients)])
        theirs = statistics.mean(lv.row()["tok/s"] for lv in results[("mlx-lm", clients)]) or 1e-9
        ttft_ours = statistics.mean(lv.row()["ttft p95"] for lv in results[("lmstream", clients)])
        ttft_theirs = statistics.mean(lv.row()["ttft p95"] for lv in results[("mlx-lm", clients)]) or 1e-9
        print(f"{clients:7d} {'ratio':9s} {ours / theirs:8.3f} (goal >= 1.0)    ttft p95 ratio "
              f"{ttft_ours / ttft_theirs:.3f} (goal <= 1.0)")
    top = max(levels)
    print(f"\n{top} clients, 10% disconnecting after 3 tokens:")
    for label, (base, model, process) in servers.items():
        before = rss_bytes(process.pid)
        measured = asyncio.run(level(label, base, model, top, args.max_tokens, bias, 0.1, args.timeout))
        time.sleep(1.0)
        after = rss_bytes(process.pid)
        row = measured.row()
        print(f"  {label:9s} errors of the others {row['errors']:.0f} (goal 0)  {row['tok/s']:7.1f} tok/s  "
              f"RSS {before / 2**20:.1f} -> {after / 2**20:.1f} MiB")


if __name__ == "__main__":
    main()
