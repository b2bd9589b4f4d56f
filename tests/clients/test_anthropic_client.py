"""The official ``anthropic`` client against /v1/messages (scripted backend, in process).

create and stream; a tool loop (``tool_choice: any`` -> ``tool_use`` -> ``tool_result`` ->
answer); ``messages.parse`` with a pydantic ``output_format`` (sent as ``output_config``);
``count_tokens``; and the beta surface Claude Code uses (betas, adaptive thinking,
``context_management``, effort).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

import lmstream

anthropic = pytest.importorskip("anthropic")
httpx2 = pytest.importorskip("httpx2")
pydantic = pytest.importorskip("pydantic")
pytest.importorskip("starlette")

from lmstream_server import create_app  # noqa: E402

pytestmark = pytest.mark.clients

BASE = "http://lmstream.test"
TOOL = {"name": "get_weather", "description": "Weather in a city.",
        "input_schema": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}}
CALL = '<tool_call>\n{"name": "get_weather", "arguments": {"city": "Paris"}}\n</tool_call>'


def reply(prompt: str) -> str:
    """A tool call until a tool result is in the prompt, then the answer; JSON when asked for a city."""
    if "<|im_start|>tool\n" in prompt:
        return "It is sunny in Paris."
    if "Weather" in prompt:
        return CALL
    if "JSON" in prompt:
        return '{"city": "Paris", "population": 2102650}'
    return "Hello there."


@pytest.fixture
def client() -> Iterator[Any]:
    """An AsyncAnthropic client talking to the app in process (over httpx2's ASGI transport)."""
    context = lmstream.load(backend="scripted", reply=reply, tool_parser="json")
    app = create_app(context)
    transport = httpx2.ASGITransport(app=app)
    yield anthropic.AsyncAnthropic(base_url=BASE, api_key="unused", max_retries=0,
                                   http_client=httpx2.AsyncClient(transport=transport, base_url=BASE, timeout=30))
    context.close()


async def test_create_and_stream(client: Any) -> None:
    message = await client.messages.create(model="scripted", max_tokens=100, system="Be brief.",
                                           messages=[{"role": "user", "content": "Hi"}])
    assert message.content[0].text == "Hello there." and message.stop_reason == "end_turn"
    assert message.usage.input_tokens > 0 and message.usage.output_tokens > 0
    async with client.messages.stream(model="scripted", max_tokens=100,
                                      messages=[{"role": "user", "content": "Hi"}]) as stream:
        text = "".join([piece async for piece in stream.text_stream])
        final = await stream.get_final_message()
    assert text == "Hello there." == final.content[0].text and final.stop_reason == "end_turn"


async def test_tool_loop_with_forced_call(client: Any) -> None:
    messages: list[dict[str, Any]] = [{"role": "user", "content": "Weather in Paris?"}]
    first = await client.messages.create(model="scripted", max_tokens=300, tools=[TOOL],
                                         tool_choice={"type": "any"}, messages=messages)
    assert first.stop_reason == "tool_use"
    call = next(block for block in first.content if block.type == "tool_use")
    assert call.name == "get_weather" and call.input == {"city": "Paris"}
    messages += [{"role": "assistant", "content": [block.model_dump(exclude_none=True) for block in first.content]},
                 {"role": "user", "content": [{"type": "tool_result", "tool_use_id": call.id,
                                               "content": [{"type": "text", "text": "sunny, 21 C"}]}]}]
    async with client.messages.stream(model="scripted", max_tokens=300, tools=[TOOL], messages=messages) as stream:
        final = await stream.get_final_message()
    assert final.stop_reason == "end_turn" and final.content[-1].text == "It is sunny in Paris."


async def test_parse_with_output_format(client: Any) -> None:
    if not hasattr(client.messages, "parse"):
        pytest.skip("this anthropic client has no messages.parse")

    class City(pydantic.BaseModel):
        city: str
        population: int

    parsed = await client.messages.parse(model="scripted", max_tokens=300, output_format=City,
                                         messages=[{"role": "user", "content": "A city as JSON."}])
    assert parsed.parsed_output == City(city="Paris", population=2102650)


async def test_count_tokens(client: Any) -> None:
    counted = await client.messages.count_tokens(model="scripted", tools=[TOOL], system="Be brief.",
                                                 messages=[{"role": "user", "content": "Hi"}])
    longer = await client.messages.count_tokens(model="scripted", tools=[TOOL], system="Be brief.",
                                                messages=[{"role": "user", "content": "Hi there, more words"}])
    assert 0 < counted.input_tokens < longer.input_tokens


async def test_beta_surface_claude_code_uses(client: Any) -> None:
    message = await client.beta.messages.create(
        model="scripted", max_tokens=200, betas=["context-management-2025-06-27", "effort-2025-11-24"],
        thinking={"type": "adaptive"}, output_config={"effort": "high"},
        context_management={"edits": [{"type": "clear_thinking_20251015", "keep": "all"}]},
        messages=[{"role": "user", "content": "Hi"}])
    assert message.content[-1].text == "Hello there."


async def test_stop_sequence_is_reported(client: Any) -> None:
    message = await client.messages.create(model="scripted", max_tokens=100, stop_sequences=["there"],
                                           messages=[{"role": "user", "content": "Hi"}])
    assert message.content[0].text == "Hello " and message.stop_reason == "stop_sequence"
    assert message.stop_sequence == "there"
    async with client.messages.stream(model="scripted", max_tokens=100, stop_sequences=["there"],
                                      messages=[{"role": "user", "content": "Hi"}]) as stream:
        final = await stream.get_final_message()
    assert (final.stop_reason, final.stop_sequence) == ("stop_sequence", "there")
