"""Concurrent agents with distinct system prompts against one server whose prefix-cache budget
holds only some of them (scripted backend, over HTTP in process): no errors, each agent gets its
own answers, the held bytes never pass the budget, and the reuse the usage fields report is
what the cache counted. benchmarks/agent_concurrent.py runs the same on a real model with RSS.
"""

from __future__ import annotations

import asyncio
import itertools
import re
from typing import Any

import pytest

import lmstream

pytest.importorskip("starlette")
httpx = pytest.importorskip("httpx")

from lmstream_server import create_app  # noqa: E402

TURNS = 3
AGENTS = 8
FIT = 4


def system(agent: int) -> str:
    """Agent ``agent``'s own system prompt (distinct from its first characters on)."""
    return f"Session {agent}: a coding agent. Tools: read_file(path), run(command). " * 6


def reply(prompt: str) -> str:
    """The scripted model names the agent and the turn it answers (so mixed-up events show)."""
    match = re.search(r"Session (\d+):", prompt)
    return f"agent {match.group(1) if match else '?'} turn {prompt.count('<tool_response>') + 1}"


def turn_messages(turn: int) -> list[dict[str, str]]:
    """A recorded tool call, its result and a user message (turn 1: the user message only)."""
    question = {"role": "user", "content": f"Explain handler {turn}."}
    if turn == 1:
        return [question]
    return [{"role": "assistant", "content": f'<tool_call>{{"name": "read_file", "path": "m{turn}.py"}}</tool_call>'},
            {"role": "user", "content": f"<tool_response>def handler_{turn}(): return {turn}</tool_response>"},
            question]


async def run_agent(http: Any, agent: int, context: lmstream.ModelContext, budget: int,
                    over_budget: list[int]) -> list[dict[str, Any]]:
    """One agent's conversation; after every turn the cache's held bytes are checked."""
    messages: list[dict[str, str]] = [{"role": "system", "content": system(agent)}]
    results = []
    for turn in range(1, TURNS + 1):
        messages += turn_messages(turn)
        body = {"model": "scripted", "max_tokens": 16, "messages": messages}
        response = await asyncio.wait_for(http.post("/v1/chat/completions", json=body), 60)
        assert response.status_code == 200, response.text
        answer = response.json()
        assert answer["choices"][0]["message"]["content"] == f"agent {agent} turn {turn}"
        results.append(answer["usage"])
        held = context.prefix_cache.stats().bytes
        if held > budget:
            over_budget.append(held)
    return results


async def run_agents(budget: int, agents: int) -> tuple[list[list[dict[str, Any]]], lmstream.PrefixCacheStats,
                                                         list[int]]:
    """``agents`` agents at once against a fresh server with ``budget`` bytes of prefix cache."""
    context = lmstream.load(backend="scripted", reply=reply, prefix_cache_bytes=budget, token_delay=0.001,
                            max_batch_size=AGENTS)
    over_budget: list[int] = []
    try:
        transport = httpx.ASGITransport(app=create_app(context))
        async with httpx.AsyncClient(transport=transport, base_url="http://t", timeout=60) as http:
            usages = await asyncio.wait_for(asyncio.gather(
                *(run_agent(http, a, context, budget, over_budget) for a in range(agents))), 120)
        return usages, context.prefix_cache.stats(), over_budget
    finally:
        context.close()


async def one_agent_bytes() -> int:
    """What one agent's finished conversation holds in the cache (the probe of the benchmark)."""
    _, stats, _ = await run_agents(1 << 30, 1)
    assert stats.entries == 1  # a trimmable entry replaces the shorter ones of earlier turns
    return stats.bytes


def cached(usage: dict[str, Any]) -> int:
    return int(usage["prompt_tokens_details"]["cached_tokens"])


async def test_a_budget_for_four_holds_four_concurrent_agents() -> None:
    budget = int((FIT + 0.5) * await one_agent_bytes())
    usages, stats, over_budget = await run_agents(budget, FIT)
    assert not over_budget and stats.bytes <= budget and stats.evictions == 0
    for turns in usages:  # every later turn starts from the whole previous prompt
        for before, after in itertools.pairwise(turns):
            assert cached(after) >= before["prompt_tokens"]


async def test_eight_concurrent_agents_under_a_budget_for_four() -> None:
    one = await one_agent_bytes()
    budget = int((FIT + 0.5) * one)
    usages, stats, over_budget = await run_agents(budget, AGENTS)
    assert len(usages) == AGENTS and all(len(turns) == TURNS for turns in usages)  # no errors
    assert not over_budget and stats.bytes <= budget
    assert stats.entries <= FIT and stats.evictions > 0
    reported = sum(cached(usage) for turns in usages for usage in turns)
    prompts = sum(usage["prompt_tokens"] for turns in usages for usage in turns)
    assert reported == stats.hit_tokens
    assert stats.lookups == AGENTS * TURNS
    print(f"8 agents, budget {budget} bytes ({FIT} agents of {one}): {stats.hits}/{stats.lookups} lookups hit, "
          f"{reported}/{prompts} prompt tokens cached ({100 * reported / prompts:.1f}%), "
          f"{stats.evictions} evictions")
