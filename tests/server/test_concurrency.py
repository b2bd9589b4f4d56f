"""32 concurrent streams over one context: every client gets exactly its own answer."""

from __future__ import annotations

import asyncio
import json
import re
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from .conftest import openai_client


def _echo_reply(prompt: str) -> str:
    """Answer with the request number found in the prompt, so mixed-up streams are caught."""
    found = re.findall(r"request (\d+)", prompt)
    return f"answer to {found[-1]}: " + "ok " * 5 if found else "no number"


async def test_32_concurrent_streams_all_correct(served: Any) -> None:
    app = served(_echo_reply, token_delay=0.001, app_options={"max_batch_size": 8, "max_queue": 32})
    client = openai_client(app)

    async def one(number: int) -> str:
        stream = await client.chat.completions.create(
            model="scripted", stream=True, messages=[{"role": "user", "content": f"request {number}"}])
        return "".join([c.choices[0].delta.content or "" async for c in stream if c.choices])

    answers = await asyncio.wait_for(asyncio.gather(*(one(n) for n in range(32))), 60)
    assert answers == [f"answer to {n}: " + "ok " * 5 for n in range(32)]
    assert app.state.lmstream.in_flight == 0


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(text=st.text(st.characters(codec="utf-8", exclude_categories=("Cs",)), min_size=1, max_size=40),
       cut=st.sampled_from(["chars", "bytes", "words", 3]))
def test_streamed_deltas_join_to_the_non_streamed_answer(served: Any, text: str, cut: Any) -> None:
    app = served(text, cut=cut)
    client = openai_client(app)

    async def both() -> tuple[str, str, str, str]:
        whole = (await client.chat.completions.create(model="scripted", messages=[{"role": "user", "content": "x"}]))
        stream = await client.chat.completions.create(model="scripted", stream=True,
                                                      messages=[{"role": "user", "content": "x"}])
        chunks = [c async for c in stream if c.choices]
        content = "".join(c.choices[0].delta.content or "" for c in chunks)
        reasoning = "".join(getattr(c.choices[0].delta, "reasoning_content", None) or "" for c in chunks)
        message = whole.choices[0].message
        return (content, reasoning, message.content or "", getattr(message, "reasoning_content", None) or "")

    content, reasoning, whole_content, whole_reasoning = asyncio.run(both())
    assert (content, reasoning) == (whole_content, whole_reasoning)
    if "<think>" not in text and "</think>" not in text:
        assert content == text


TOOL_REPLY = ('<think>Need data.</think>On it. <tool_call>\n'
              '{"name": "get_weather", "arguments": {"city": "Saint-Étienne", "days": [1, 2]}}\n</tool_call>')


@settings(max_examples=20, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(offsets=st.sets(st.integers(1, len(TOOL_REPLY.encode()) - 1), max_size=30))
def test_tool_call_and_reasoning_survive_any_token_cut(served: Any, offsets: set[int]) -> None:
    cuts = sorted(offsets) or "chars"  # byte offsets: some cut inside "É" and inside the markers
    client = openai_client(served(TOOL_REPLY, cut=cuts, tool_parser="json"))
    tool = {"type": "function", "function": {"name": "get_weather", "parameters": {"type": "object"}}}

    async def stream() -> tuple[str, str, str, str | None]:
        chunks = [c async for c in await client.chat.completions.create(
            model="scripted", stream=True, tools=[tool], messages=[{"role": "user", "content": "x"}]) if c.choices]
        deltas = [d for c in chunks for d in c.choices[0].delta.tool_calls or []]
        return ("".join(c.choices[0].delta.content or "" for c in chunks),
                "".join(getattr(c.choices[0].delta, "reasoning_content", None) or "" for c in chunks),
                "".join(d.function.arguments or "" for d in deltas), chunks[-1].choices[0].finish_reason)

    content, reasoning, arguments, finish = asyncio.run(stream())
    assert (content, reasoning, finish) == ("On it. ", "Need data.", "tool_calls")
    assert json.loads(arguments) == {"city": "Saint-Étienne", "days": [1, 2]}

