"""What the server itself costs per token: the same scripted generation consumed directly
(``async for`` over the stream) and through `lmstream serve`'s app over loopback HTTP/SSE.

The scripted backend produces tokens with no model compute, so the difference is the
server's work: JSON + SSE framing, the ASGI server, the socket and the client's parsing.
Runs alternate (direct, server, server, direct, ...) and the medians are compared.

    python benchmarks/server_overhead.py [--tokens 2000] [--runs 5]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import socket
import statistics
import threading
import time
from typing import Any


async def direct(context: Any, tokens: int) -> float:
    """Seconds to consume one generation with ``async for``."""
    begin = time.perf_counter()
    count = 0
    async for _event in context.generate_stream(messages=[{"role": "user", "content": "go"}], max_tokens=tokens):
        count += 1
    return time.perf_counter() - begin


async def over_http(base: str, tokens: int) -> float:
    """Seconds to consume the same generation as a streamed chat completion over loopback."""
    import httpx

    body = {"model": "scripted", "stream": True, "max_tokens": tokens,
            "messages": [{"role": "user", "content": "go"}]}
    begin = time.perf_counter()
    async with httpx.AsyncClient(base_url=base, timeout=120) as client:
        async with client.stream("POST", "/v1/chat/completions", json=body) as response:
            async for line in response.aiter_lines():
                if line.startswith("data: {"):
                    json.loads(line[6:])
    return time.perf_counter() - begin


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--tokens", type=int, default=2000)
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()

    import uvicorn

    import lmstream
    from lmstream_server import create_app

    context = lmstream.load(backend="scripted", reply="tick ", repeat=True)
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(create_app(context), host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started and time.monotonic() < deadline:
        time.sleep(0.05)
    base = f"http://127.0.0.1:{port}"
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else 0.0
    print(f"{args.tokens} scripted tokens per run; load average {load:.2f} ({os.cpu_count()} CPUs)")
    asyncio.run(direct(context, 50)), asyncio.run(over_http(base, 50))  # warm-up
    times: dict[str, list[float]] = {"direct": [], "server": []}
    for i in range(args.runs):
        order = ["direct", "server"] if i % 2 == 0 else ["server", "direct"]
        for name in order:
            seconds = asyncio.run(direct(context, args.tokens) if name == "direct" else over_http(base, args.tokens))
            times[name].append(seconds)
            print(f"  run {i + 1} {name:7s} {seconds:7.3f} s  {args.tokens / seconds:9.0f} tok/s", flush=True)
    d, s = statistics.median(times["direct"]), statistics.median(times["server"])
    print(f"\nmedian: direct {args.tokens / d:.0f} tok/s, server {args.tokens / s:.0f} tok/s; "
          f"server/direct time ratio {s / d:.2f}; server cost {(s - d) / args.tokens * 1e6:.0f} us per token")
    server.should_exit = True
    thread.join(timeout=10)
    context.close()


if __name__ == "__main__":
    main()
