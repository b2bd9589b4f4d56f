"""Ray Serve scale-out: aggregate throughput of 1 vs 2 scripted replicas, and the hop's cost.

The replicas run the scripted backend with a fixed per-token delay (``--token-delay``), so the
figure measures routing and the hop, not this machine's cores: ``--concurrency`` streams of
``--tokens`` tokens each are sent through ``RaySource`` (the ingress side of ``lmstream serve
--ray``) with unique prompts (no prefix affinity). Rounds alternate which deployment goes first.
Then the per-event overhead of the hop: one stream of ``--hop-tokens`` tokens with no delay,
through a replica vs in process, as µs per event (best of the rounds).

    python benchmarks/ray_scaling.py [--concurrency 8] [--tokens 40] [--token-delay 0.05] [--rounds 2]

Goal: >= 1.8x the throughput with 2 replicas. Ray runs locally (127.0.0.1, no dashboard, no
Serve HTTP proxy) and is shut down at the end; every wait is bounded (``--timeout``).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import secrets
import time
from typing import Any

import lmstream
from lmstream import Chunk, GenerationParameters, Info, UserInput


async def _drain(stream: Any, timeout: float) -> int:
    """Events of a stream until its Info (which must not be an error); returns the count."""
    async def run() -> int:
        count = 0
        async for event in stream:
            count += 1
            if isinstance(event, Info):
                if event.stop_reason == "error":
                    raise RuntimeError(f"stream failed: {event.error}")
                return count
        return count
    return await asyncio.wait_for(run(), timeout)


async def _throughput(source: Any, context: lmstream.ModelContext, args: argparse.Namespace) -> tuple[float, int]:
    """Tokens per second of ``concurrency`` concurrent streams through ``source``."""
    params = GenerationParameters(max_tokens=args.tokens)
    inputs = [context.prepare(UserInput(messages=[{"role": "user", "content": secrets.token_hex(16)}]))
              for _ in range(args.concurrency)]
    started = time.perf_counter()
    streams = await asyncio.gather(*(source.open(lm_input, params) for lm_input in inputs))
    replicas = len({stream.replica for stream in streams})
    await asyncio.gather(*(_drain(stream, args.timeout) for stream in streams))
    elapsed = time.perf_counter() - started
    return args.tokens * args.concurrency / elapsed, replicas


async def _per_event_remote(source: Any, context: lmstream.ModelContext, tokens: int, timeout: float) -> float:
    lm_input = context.prepare(UserInput(messages=[{"role": "user", "content": secrets.token_hex(16)}]))
    started = time.perf_counter()
    events = await _drain(await source.open(lm_input, GenerationParameters(max_tokens=tokens)), timeout)
    return (time.perf_counter() - started) / events


def _per_event_local(context: lmstream.ModelContext, tokens: int) -> float:
    lm_input = context.prepare(UserInput(messages=[{"role": "user", "content": secrets.token_hex(16)}]))
    started = time.perf_counter()
    stream = lmstream.generate(lm_input, parameters=GenerationParameters(max_tokens=tokens), context=context)
    events = sum(1 for event in stream if isinstance(event, Chunk | Info))
    return (time.perf_counter() - started) / events


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--concurrency", type=int, default=8)
    parser.add_argument("--tokens", type=int, default=40)
    parser.add_argument("--token-delay", type=float, default=0.05)
    parser.add_argument("--hop-tokens", type=int, default=500)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--timeout", type=float, default=300.0)
    args = parser.parse_args()

    import ray
    from ray import serve

    from lmstream_server.ray.launch import deploy
    from lmstream_server.ray.replica import LoadSpec
    from lmstream_server.ray.source import RaySource

    delayed = {"reply": "word ", "repeat": True, "cut": "words", "token_delay": args.token_delay}
    instant = {"reply": "word ", "repeat": True, "cut": "words"}
    ray.init(num_cpus=4, include_dashboard=False, log_to_driver=False, _node_ip_address="127.0.0.1")
    try:
        sources = {n: RaySource(deploy(LoadSpec(backend="scripted", options=delayed), app_name=f"bench{n}",
                                       replicas=n, num_cpus=0.5, max_ongoing_requests=args.concurrency * 2))
                   for n in (1, 2)}
        hop = RaySource(deploy(LoadSpec(backend="scripted", options=instant), app_name="hop", num_cpus=0.5))
        context = lmstream.load(backend="scripted", **instant)
        results: dict[int, list[float]] = {1: [], 2: []}
        remote: list[float] = []
        local: list[float] = []

        async def measure() -> None:
            for round_ in range(args.rounds):
                for n in ((1, 2) if round_ % 2 == 0 else (2, 1)):
                    tps, used = await _throughput(sources[n], context, args)
                    results[n].append(tps)
                    print(f"round {round_}: {n} replica(s): {tps:8.1f} tok/s ({used} replica(s) used)", flush=True)
                remote.append(await _per_event_remote(hop, context, args.hop_tokens, args.timeout))
                local.append(_per_event_local(context, args.hop_tokens))

        asyncio.run(measure())
        one, two = max(results[1]), max(results[2])
        print(f"load: {os.getloadavg()[0]:.1f} (1 min) on {os.cpu_count()} CPUs")
        print(f"throughput: 1 replica {one:.1f} tok/s, 2 replicas {two:.1f} tok/s: {two / one:.2f}x (goal >= 1.8x); "
              f"{args.concurrency} streams x {args.tokens} tokens, {args.token_delay * 1000:g} ms per token")
        hop_us = (min(remote) - min(local)) * 1e6
        print(f"hop: {min(remote) * 1e6:.0f} µs per event through a replica vs {min(local) * 1e6:.0f} µs in "
              f"process: {hop_us:.0f} µs per event of overhead")
        context.close()
    finally:
        serve.shutdown()
        ray.shutdown()


if __name__ == "__main__":
    main()
