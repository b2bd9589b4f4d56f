"""/v1/chat/completions with the official openai client: text, reasoning, tool calls, usage, n, logprobs."""

from __future__ import annotations

import json
from typing import Any

import pytest

from .conftest import WEATHER_TOOL, openai_client

USER = [{"role": "user", "content": "What is the weather in Paris?"}]

TOOL_REPLIES = {
    "json": ('Let me check. <tool_call>\n{"name": "get_weather", "arguments": {"city": "Paris"}}\n</tool_call>'),
    "mistral": '[TOOL_CALLS]get_weather[ARGS]{"city": "Paris"}',
    "pythonic": '[get_weather(city="Paris")]',
    "llama3_json": '<|python_tag|>{"name": "get_weather", "parameters": {"city": "Paris"}}',
}


async def _stream(client: Any, **kwargs: Any) -> list[Any]:
    stream = await client.chat.completions.create(model="scripted", stream=True, **kwargs)
    return [chunk async for chunk in stream]


def _reassemble(chunks: list[Any]) -> dict[int, dict[str, str]]:
    """Tool calls rebuilt from OpenAI deltas the way clients do it (by index)."""
    calls: dict[int, dict[str, str]] = {}
    for chunk in chunks:
        for choice in chunk.choices:
            for delta in choice.delta.tool_calls or []:
                call = calls.setdefault(delta.index, {"id": "", "name": "", "arguments": ""})
                if delta.id:
                    call["id"] = delta.id
                if delta.function and delta.function.name:
                    call["name"] += delta.function.name
                if delta.function and delta.function.arguments:
                    call["arguments"] += delta.function.arguments
    return calls


async def test_plain_text_non_streamed_and_streamed_agree(served: Any) -> None:
    client = openai_client(served("The capital of France is Paris."))
    answer = await client.chat.completions.create(model="scripted", messages=USER)
    assert answer.choices[0].message.content == "The capital of France is Paris."
    assert answer.choices[0].finish_reason == "stop"
    assert answer.object == "chat.completion" and answer.model == "scripted"
    chunks = await _stream(client, messages=USER)
    assert chunks[0].choices[0].delta.role == "assistant"
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert text == "The capital of France is Paris."
    assert len([c for c in chunks if c.choices and c.choices[0].delta.content]) > 3  # really streamed
    assert chunks[-1].choices[0].finish_reason == "stop"


async def test_usage_in_the_last_chunk_only_when_asked(served: Any) -> None:
    client = openai_client(served("four score"))
    chunks = await _stream(client, messages=USER, stream_options={"include_usage": True})
    assert chunks[-1].choices == [] and chunks[-1].usage is not None
    assert chunks[-1].usage.completion_tokens >= len("four score")
    assert chunks[-1].usage.total_tokens == chunks[-1].usage.prompt_tokens + chunks[-1].usage.completion_tokens
    assert all(c.usage is None for c in chunks[:-1])
    plain = await _stream(client, messages=USER)
    assert all(c.usage is None for c in plain)
    answer = await client.chat.completions.create(model="scripted", messages=USER)
    assert answer.usage.completion_tokens == chunks[-1].usage.completion_tokens


async def test_length_finish_reason(served: Any) -> None:
    client = openai_client(served("one two three four five six"))
    answer = await client.chat.completions.create(model="scripted", messages=USER, max_tokens=4)
    assert answer.choices[0].finish_reason == "length"
    assert answer.choices[0].message.content == "one "
    answer = await client.chat.completions.create(model="scripted", messages=USER, max_completion_tokens=3)
    assert answer.choices[0].message.content == "one"


async def test_reasoning_content_streamed_and_in_the_message(served: Any) -> None:
    client = openai_client(served("<think>Paris is the capital.</think>Paris."))
    answer = await client.chat.completions.create(model="scripted", messages=USER)
    message = answer.choices[0].message
    assert message.content == "Paris."
    assert message.reasoning_content == "Paris is the capital."  # type: ignore[attr-defined]
    chunks = await _stream(client, messages=USER)
    reasoning = "".join(getattr(c.choices[0].delta, "reasoning_content", None) or "" for c in chunks if c.choices)
    content = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert (reasoning, content) == ("Paris is the capital.", "Paris.")


@pytest.mark.parametrize("parser", sorted(TOOL_REPLIES))
async def test_tool_calls_reassembled_from_deltas_equal_the_parsed_call(served: Any, parser: str) -> None:
    client = openai_client(served(TOOL_REPLIES[parser], tool_parser=parser, cut="words"))
    answer = await client.chat.completions.create(model="scripted", messages=USER, tools=[WEATHER_TOOL])
    (call,) = answer.choices[0].message.tool_calls
    assert answer.choices[0].finish_reason == "tool_calls"
    assert call.type == "function" and call.function.name == "get_weather"
    assert json.loads(call.function.arguments) == {"city": "Paris"}
    chunks = await _stream(client, messages=USER, tools=[WEATHER_TOOL])
    calls = _reassemble(chunks)
    assert list(calls) == [0]
    assert calls[0]["name"] == "get_weather" and calls[0]["id"]
    assert json.loads(calls[0]["arguments"]) == {"city": "Paris"}
    assert chunks[-1].choices[0].finish_reason == "tool_calls"
    first = next(d for c in chunks if c.choices for d in c.choices[0].delta.tool_calls or [])
    assert first.id and first.type == "function" and first.function.name == "get_weather"


async def test_two_calls_and_parallel_tool_calls_false(served: Any) -> None:
    reply = ('<tool_call>{"name": "get_weather", "arguments": {"city": "Paris"}}</tool_call>'
             '<tool_call>{"name": "get_weather", "arguments": {"city": "Lyon"}}</tool_call>')
    client = openai_client(served(reply, tool_parser="json"))
    both = _reassemble(await _stream(client, messages=USER, tools=[WEATHER_TOOL]))
    assert [json.loads(c["arguments"])["city"] for _, c in sorted(both.items())] == ["Paris", "Lyon"]
    one = await client.chat.completions.create(model="scripted", messages=USER, tools=[WEATHER_TOOL],
                                               parallel_tool_calls=False)
    assert [json.loads(c.function.arguments)["city"] for c in one.choices[0].message.tool_calls] == ["Paris"]
    streamed = _reassemble(await _stream(client, messages=USER, tools=[WEATHER_TOOL], parallel_tool_calls=False))
    assert list(streamed) == [0]


async def test_rejected_tool_call_text_is_content(served: Any) -> None:
    reply = 'Try: <tool_call>{"name": "undeclared", "arguments": {}}</tool_call>'
    client = openai_client(served(reply, tool_parser="json"))
    answer = await client.chat.completions.create(model="scripted", messages=USER, tools=[WEATHER_TOOL])
    assert answer.choices[0].message.tool_calls is None
    assert "undeclared" in answer.choices[0].message.content
    assert answer.choices[0].finish_reason == "stop"


async def test_tool_choice_none_disables_parsing(served: Any) -> None:
    client = openai_client(served(TOOL_REPLIES["json"], tool_parser="json"))
    answer = await client.chat.completions.create(model="scripted", messages=USER, tools=[WEATHER_TOOL],
                                                  tool_choice="none")
    assert answer.choices[0].message.tool_calls is None
    assert "<tool_call>" in answer.choices[0].message.content


async def test_history_with_tool_calls_and_results_is_accepted(served: Any) -> None:
    client = openai_client(served("It is sunny.", tool_parser="json"))
    messages = [*USER,
                {"role": "assistant", "content": None, "tool_calls": [
                    {"id": "call_1", "type": "function",
                     "function": {"name": "get_weather", "arguments": '{"city": "Paris"}'}}]},
                {"role": "tool", "tool_call_id": "call_1", "content": "sunny"},
                {"role": "user", "content": [{"type": "text", "text": "So?"}]}]
    answer = await client.chat.completions.create(model="scripted", messages=messages, tools=[WEATHER_TOOL])
    assert answer.choices[0].message.content == "It is sunny."


async def test_n_2_streamed_and_not(served: Any) -> None:
    client = openai_client(served(["first answer", "second answer"]))
    answer = await client.chat.completions.create(model="scripted", messages=USER, n=2)
    assert sorted(c.message.content for c in answer.choices) == ["first answer", "second answer"]
    assert [c.index for c in answer.choices] == [0, 1]
    chunks = await _stream(client, messages=USER, n=2, stream_options={"include_usage": True})
    texts = {0: "", 1: ""}
    finishes = {}
    for chunk in chunks:
        for choice in chunk.choices:
            texts[choice.index] += choice.delta.content or ""
            if choice.finish_reason:
                finishes[choice.index] = choice.finish_reason
    assert sorted(texts.values()) == ["first answer", "second answer"]
    assert finishes == {0: "stop", 1: "stop"}
    assert chunks[-1].usage.completion_tokens == sum(len(t) + 1 for t in texts.values())  # chars + EOS


async def test_logprobs(served: Any) -> None:
    client = openai_client(served("abc"))
    answer = await client.chat.completions.create(model="scripted", messages=USER, logprobs=True, top_logprobs=2)
    logprobs = answer.choices[0].logprobs
    assert logprobs is not None and logprobs.content
    assert "".join(entry.token for entry in logprobs.content) == "abc"
    assert all(entry.logprob <= 0 and len(entry.top_logprobs) <= 2 for entry in logprobs.content)
    legacy = (await client.completions.create(model="scripted", prompt="x", logprobs=2)).choices[0].logprobs
    assert "".join(legacy.tokens) == "abc" and len(legacy.token_logprobs) == 3
    assert legacy.text_offset == [0, 1, 2]


async def test_default_max_tokens_bounds_requests_without_a_limit(served: Any) -> None:
    app = served("tick ", repeat=True, app_options={"default_max_tokens": 7})
    client = openai_client(app)
    answer = await client.chat.completions.create(model="scripted", messages=USER)
    assert answer.choices[0].finish_reason == "length" and answer.usage.completion_tokens == 7
    response = await client.responses.create(model="scripted", input="x")
    assert response.status == "incomplete" and response.usage.output_tokens == 7
    completion = await client.completions.create(model="scripted", prompt="x")
    assert completion.usage.completion_tokens == 16  # OpenAI's default for legacy completions


def test_logprob_shapes_from_token_logprobs(served: Any) -> None:
    """The OpenAI logprob shapes built from TokenLogprob (independent of the backend filling them)."""
    import lmstream
    from lmstream_server.chat import logprob_entries
    from lmstream_server.completions import _logprobs

    model = next(iter(served("x").state.lmstream.models.values()))
    a, b, c = (model.context.tokenizer.encode(ch, add_special_tokens=False)[0] for ch in "abc")
    items = [lmstream.TokenLogprob(a, -0.1, ((a, -0.1), (b, -2.5))), lmstream.TokenLogprob(c, -0.7)]
    entries = logprob_entries(model, items)
    assert entries[0] == {"token": "a", "logprob": -0.1, "bytes": [97], "top_logprobs": [
        {"token": "a", "logprob": -0.1, "bytes": [97]}, {"token": "b", "logprob": -2.5, "bytes": [98]}]}
    assert entries[1]["token"] == "c" and entries[1]["top_logprobs"] == []
    legacy = _logprobs(model, items, offset=5)
    assert legacy == {"tokens": ["a", "c"], "token_logprobs": [-0.1, -0.7],
                      "top_logprobs": [{"a": -0.1, "b": -2.5}, None], "text_offset": [5, 6]}
