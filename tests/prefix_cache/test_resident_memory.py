"""The prefix cache's budget holds in the process's resident memory (slow, the default model on
llama.cpp, whose entries are host-memory copies of the KV state).

What the bound covers: the RSS growth over a baseline taken after load, a warm-up of the same
shape (as many concurrent generations of the same length, so the working memory every running
sequence needs, with or without a cache, is already resident) and dropping the warm-up's
entries. Live sequences keep their KV in llama.cpp's context (allocated at load, inside the
baseline). So what grows is what the prefix cache holds (at most the budget), the state a
sequence saves as it ends (room for it is made before it is saved) and allocator slack; the
check allows the budget plus 10%, the issue's goal. It runs in a fresh process (see the test). Measured under load: RSS grew 14.0 MiB at
its peak for a 16.4 MiB budget; the code before the fixes grew 35.5 MiB (forks kept the bytes
of evicted entries alive, a save held two host copies and came on top of a full budget, freed
entries stayed resident in glibc's heap).
"""

from __future__ import annotations

import json
import subprocess
import sys
import threading
from pathlib import Path

import pytest

import lmstream

pytestmark = pytest.mark.slow

AGENTS = 4
FIT = 2.5
"""The budget holds two and a half agents' conversations."""


def rss_bytes() -> int:
    """This process's resident memory (Linux /proc)."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    raise AssertionError("no VmRSS")


def system(agent: int, tag: str) -> str:
    return (f"{tag} session {agent}: a coding agent in a repository. Tools: read_file(path), "
            "write_file(path, text), run(command). Answer briefly and call one tool at a time. ") * 5


def run_agents(context: lmstream.ModelContext, tag: str, turns: int, errors: list[str]) -> None:
    """``AGENTS`` conversations at once, ``turns`` turns each (each turn appends a tool call
    and its result, as an agent does)."""

    def agent(n: int) -> None:
        messages = [{"role": "system", "content": system(n, tag)}]
        for turn in range(turns):
            messages.append({"role": "user", "content": f"Turn {turn}: what does handler_{turn} do?"})
            result = context.generate(messages=messages, max_tokens=2, temperature=0)
            if result.info.error is not None:
                errors.append(repr(result.info.error))
                return
            messages.append({"role": "assistant", "content": f'{{"name": "read_file", "path": "h{turn}.py"}}'})

    threads = [threading.Thread(target=agent, args=(n,)) for n in range(AGENTS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(600)
    assert not any(thread.is_alive() for thread in threads)


def measure() -> dict[str, float]:
    """Load, warm up, set the budget, then run the agents while sampling RSS: the figures."""
    from lmstream.scheduling._heap import release_free_memory

    context = lmstream.load(backend="llama_cpp", n_ctx=4096, max_batch_size=AGENTS,
                            prefix_cache_bytes=1 << 30)
    errors: list[str] = []
    try:
        run_agents(context, "Warm-up", 1, errors)  # the same shape, other prompts
        warm = context.prefix_cache.stats()
        one = warm.bytes / max(1, warm.entries)  # one agent's entry after one turn
        budget = int(FIT * one * 1.2)  # (a second turn's entry is ~10-20% longer)
        context.prefix_cache.clear()
        context.prefix_cache.capacity_bytes = budget
        release_free_memory()
        baseline = rss_bytes()
        peak = [baseline]
        held = [0]
        done = threading.Event()

        def sample() -> None:
            while not done.is_set():
                peak[0] = max(peak[0], rss_bytes())
                held[0] = max(held[0], context.prefix_cache.stats().bytes)
                done.wait(0.002)

        sampler = threading.Thread(target=sample)
        sampler.start()
        try:
            run_agents(context, "Budget", 2, errors)
        finally:
            done.set()
            sampler.join()
        stats = context.prefix_cache.stats()
    finally:
        context.close()
    return {"errors": len(errors), "evictions": stats.evictions, "hits": stats.hits, "budget": budget,
            "one": one, "held": held[0], "bytes": stats.bytes, "grown": peak[0] - baseline}


def test_llama_cpp_concurrent_agents_stay_within_the_budget_in_resident_memory(require_backend):
    """Measured in a fresh process: the heap history of the tests before it (glibc's mmap
    threshold, raised by earlier large frees, and their arenas' free space) would otherwise
    move the RSS figure by several MiB either way."""
    require_backend("llama_cpp")
    run = subprocess.run([sys.executable, __file__], capture_output=True, text=True, timeout=900, check=False)
    lines = [line for line in run.stdout.splitlines() if line.startswith("RESULT ")]
    assert run.returncode == 0 and lines, run.stderr[-4000:]
    figures = json.loads(lines[-1].removeprefix("RESULT "))
    budget, grown = figures["budget"], figures["grown"]
    print(f"budget {budget / 2**20:.1f} MiB (one entry {figures['one'] / 2**20:.1f} MiB): RSS grew "
          f"{grown / 2**20:.1f} MiB at its peak; {figures['evictions']} evictions, {figures['hits']} hits")
    assert figures["errors"] == 0
    assert figures["evictions"] > 0 and figures["hits"] > 0  # the budget was tight and still served
    assert figures["held"] <= budget and figures["bytes"] <= budget
    assert grown <= 1.1 * budget, f"RSS grew {grown / 2**20:.1f} MiB, budget {budget / 2**20:.1f} MiB"


if __name__ == "__main__":
    print("RESULT " + json.dumps(measure()))
