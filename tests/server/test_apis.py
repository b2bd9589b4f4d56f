"""/v1/completions, /v1/responses and /v1/messages with the official clients; the small routes."""

from __future__ import annotations

import json
from typing import Any

from .conftest import WEATHER_TOOL, anthropic_client, http_client, openai_client

RESPONSES_TOOL = {"type": "function", "name": "get_weather", "description": "Weather in a city.",
                  "parameters": WEATHER_TOOL["function"]["parameters"]}  # type: ignore[index]
ANTHROPIC_TOOL = {"name": "get_weather", "description": "Weather in a city.",
                  "input_schema": WEATHER_TOOL["function"]["parameters"]}  # type: ignore[index]


async def test_completions_text_and_token_ids(served: Any) -> None:
    client = openai_client(served("lo world"))
    answer = await client.completions.create(model="scripted", prompt="hel", max_tokens=50)
    assert answer.choices[0].text == "lo world" and answer.choices[0].finish_reason == "stop"
    by_ids = await client.completions.create(model="scripted", prompt=[104, 101, 108], max_tokens=50)
    assert by_ids.choices[0].text == "lo world"
    assert by_ids.usage.prompt_tokens == 3
    stream = await client.completions.create(model="scripted", prompt="hel", stream=True,
                                             stream_options={"include_usage": True})
    chunks = [c async for c in stream]
    assert "".join(c.choices[0].text for c in chunks if c.choices) == "lo world"
    assert chunks[-1].usage.completion_tokens == len("lo world") + 1
    two = await client.completions.create(model="scripted", prompt=["a", "b c"], n=2)
    assert [c.index for c in two.choices] == [0, 1, 2, 3]
    assert two.usage.prompt_tokens == 4  # "a" once + "b c" once, not once per choice
    assert two.usage.completion_tokens == 4 * (len("lo world") + 1)


async def test_responses_non_streamed_has_reasoning_message_and_function_call(weather_app: Any) -> None:
    client = openai_client(weather_app)
    response = await client.responses.create(model="scripted", input="Weather in Paris?", tools=[RESPONSES_TOOL])
    kinds = [item.type for item in response.output]
    assert kinds == ["reasoning", "message", "function_call"]
    assert response.output[0].content[0].text == "They want weather."
    assert response.output_text == "Checking. "
    call = response.output[2]
    assert call.name == "get_weather" and json.loads(call.arguments) == {"city": "Paris"} and call.call_id
    assert response.status == "completed" and response.usage.output_tokens > 0


async def test_responses_streamed_events_rebuild_the_same_output(weather_app: Any) -> None:
    client = openai_client(weather_app)
    stream = await client.responses.create(model="scripted", input="Weather in Paris?", tools=[RESPONSES_TOOL],
                                           stream=True)
    events = [e async for e in stream]
    assert [e.sequence_number for e in events] == list(range(len(events)))
    assert events[0].type == "response.created" and events[-1].type == "response.completed"
    text = "".join(e.delta for e in events if e.type == "response.output_text.delta")
    reasoning = "".join(e.delta for e in events if e.type == "response.reasoning_text.delta")
    arguments = "".join(e.delta for e in events if e.type == "response.function_call_arguments.delta")
    assert (text, reasoning, json.loads(arguments)) == ("Checking. ", "They want weather.", {"city": "Paris"})
    final = events[-1].response
    assert [item.type for item in final.output] == ["reasoning", "message", "function_call"]


async def test_responses_with_function_call_output_input(served: Any) -> None:
    client = openai_client(served("Sunny in Paris.", tool_parser="json"))
    response = await client.responses.create(model="scripted", instructions="Be brief.", tools=[RESPONSES_TOOL], input=[
        {"role": "user", "content": "Weather?"},
        {"type": "function_call", "call_id": "c1", "name": "get_weather", "arguments": '{"city": "Paris"}'},
        {"type": "function_call_output", "call_id": "c1", "output": "sunny"}])
    assert response.output_text == "Sunny in Paris."


async def test_responses_incomplete_at_max_output_tokens(served: Any) -> None:
    client = openai_client(served("one two three"))
    response = await client.responses.create(model="scripted", input="count", max_output_tokens=3)
    assert response.status == "incomplete" and response.incomplete_details.reason == "max_output_tokens"


async def test_messages_non_streamed_blocks(weather_app: Any) -> None:
    client = anthropic_client(weather_app)
    message = await client.messages.create(model="scripted", max_tokens=500, tools=[ANTHROPIC_TOOL],
                                           messages=[{"role": "user", "content": "Weather in Paris?"}])
    assert [b.type for b in message.content] == ["thinking", "text", "tool_use"]
    assert message.content[0].thinking == "They want weather."
    assert message.content[1].text == "Checking. "
    assert message.content[2].name == "get_weather" and message.content[2].input == {"city": "Paris"}
    assert message.stop_reason == "tool_use" and message.usage.output_tokens > 0


async def test_messages_streamed_with_the_sdk_accumulator(weather_app: Any) -> None:
    client = anthropic_client(weather_app)
    async with client.messages.stream(model="scripted", max_tokens=500, tools=[ANTHROPIC_TOOL],
                                      messages=[{"role": "user", "content": "Weather in Paris?"}]) as stream:
        kinds = [event.type async for event in stream]
        final = await stream.get_final_message()
    assert kinds[0] == "message_start" and kinds[-1] == "message_stop"
    assert [b.type for b in final.content] == ["thinking", "text", "tool_use"]
    assert final.content[2].input == {"city": "Paris"} and final.stop_reason == "tool_use"


async def test_messages_history_system_and_stop_reasons(served: Any) -> None:
    client = anthropic_client(served("one two three four", tool_parser="json"))
    message = await client.messages.create(
        model="scripted", max_tokens=3, system=[{"type": "text", "text": "Be brief."}], tools=[ANTHROPIC_TOOL],
        messages=[{"role": "user", "content": "Weather?"},
                  {"role": "assistant", "content": [{"type": "thinking", "thinking": "hm", "signature": ""},
                                                    {"type": "tool_use", "id": "t1", "name": "get_weather",
                                                     "input": {"city": "Paris"}}]},
                  {"role": "user", "content": [{"type": "tool_result", "tool_use_id": "t1", "content": "sunny"}]}])
    assert message.stop_reason == "max_tokens" and message.content[0].text == "one"
    done = await client.messages.create(model="scripted", max_tokens=100, messages=[{"role": "user", "content": "x"}])
    assert done.stop_reason == "end_turn"


async def test_count_tokens_matches_tokenize(served: Any) -> None:
    app = served("x")
    client = anthropic_client(app)
    counted = await client.messages.count_tokens(model="scripted", messages=[{"role": "user", "content": "hello"}])
    async with http_client(app) as http:
        tokens = (await http.post("/tokenize", json={"model": "scripted",
                                                      "messages": [{"role": "user", "content": "hello"}]})).json()
    assert counted.input_tokens == tokens["count"] == len(tokens["tokens"]) > 5


async def test_models_tokenize_detokenize_health_metrics(served: Any) -> None:
    app = served("Hello there")
    async with http_client(app) as http:
        models = (await http.get("/v1/models")).json()
        assert [m["id"] for m in models["data"]] == ["scripted"]
        ids = (await http.post("/tokenize", json={"model": "scripted", "prompt": "hi"})).json()["tokens"]
        assert (await http.post("/detokenize", json={"model": "scripted", "tokens": ids})).json()["prompt"] == "hi"
        assert (await http.get("/health")).json()["status"] == "ok"
        await http.post("/v1/chat/completions", json={"model": "scripted", "messages": [{"role": "user", "content": "x"}]})
        metrics = (await http.get("/metrics")).text
    assert "lmstream_server_requests_in_flight" in metrics
    assert 'lmstream_server_responses_total{route="/v1/chat/completions",status="200"} 1.0' in metrics
    assert "lmstream_generated_tokens_total" in metrics and "lmstream_server_queue_depth" in metrics
    client = openai_client(app)
    assert [m.id async for m in client.models.list()] == ["scripted"]


async def test_cors_is_off_unless_asked(served: Any) -> None:
    headers = {"origin": "https://app.example", "access-control-request-method": "POST"}
    async with http_client(served()) as http:
        plain = await http.get("/v1/models", headers={"origin": "https://app.example"})
        assert "access-control-allow-origin" not in plain.headers
    async with http_client(served(app_options={"cors_origins": ["https://app.example"]})) as http:
        preflight = await http.options("/v1/chat/completions", headers=headers)
        assert preflight.headers["access-control-allow-origin"] == "https://app.example"
        other = await http.options("/v1/chat/completions", headers={**headers, "origin": "https://evil.example"})
        assert "access-control-allow-origin" not in other.headers
