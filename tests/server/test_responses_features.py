"""/v1/responses features the OpenAI Agents SDK and Codex rely on (issue 24)."""

from __future__ import annotations

import dataclasses
import json
import re
from typing import Any

import pytest
from pydantic import BaseModel

from lmstream import GenerationStats, Info, StopReason
from lmstream_server.responses_output import ResponseBuilder

from .conftest import http_client, openai_client, sse_events

ECHO_TEMPLATE = (
    "{% for message in messages %}<|im_start|>{{ message['role'] }}\n"
    "{% if message.get('reasoning_content') %}[thought: {{ message['reasoning_content'] }}]{% endif %}"
    "{{ message.get('content') or '' }}"
    "{% for call in message.get('tool_calls') or [] %}[call {{ call['function']['name'] }}]{% endfor %}"
    "<|im_end|>\n{% endfor %}"
    "{% if enable_thinking %}[thinking on]{% endif %}"
    "{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}"
)
"""ChatML that also shows reasoning, calls and the thinking switch, so a test can read the prompt."""

FUNCTION = {"type": "function", "name": "get_weather", "description": "Weather in a city.",
            "parameters": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}}


def _echo(prompt: str) -> str:
    return "PROMPT:" + re.sub(r"<\|im_start\|>system\n.*?<\|im_end\|>\n", "", prompt, flags=re.S)


def echo_app(served: Any, **options: Any) -> Any:
    """A model whose reply is the prompt it was given (its system turn left out)."""
    return served(_echo, model_chat_template=ECHO_TEMPLATE, **options)


async def _post(app: Any, body: dict[str, Any]) -> Any:
    async with http_client(app) as http:
        return await http.post("/v1/responses", json={"model": "scripted", **body})


async def test_agents_sdk_and_codex_fields_are_accepted_and_echoed(served: Any) -> None:
    body = {"input": "hi", "include": [], "store": False, "truncation": "auto", "parallel_tool_calls": True,
            "prompt_cache_key": "thread-1", "client_metadata": {"x-codex-installation-id": "abc"},
            "metadata": {"run": "7"}, "user": "u1", "service_tier": "auto", "safety_identifier": "s",
            "text": {"format": {"type": "text"}, "verbosity": "low"}, "max_tool_calls": 3,
            "reasoning": {"effort": "low", "summary": "auto", "context": "all_turns"}, "top_logprobs": 0}
    response = await _post(served("Hello"), body)
    assert response.status_code == 200, response.text
    answer = response.json()
    assert answer["output_text"] if "output_text" in answer else answer["output"][-1]["content"][0]["text"] == "Hello"
    assert answer["prompt_cache_key"] == "thread-1" and answer["metadata"] == {"run": "7"}
    assert answer["text"] == {"format": {"type": "text"}, "verbosity": "low"} and answer["store"] is False
    assert answer["reasoning"] == {"effort": "low", "summary": "auto"} and answer["truncation"] == "auto"
    assert answer["max_tool_calls"] == 3 and answer["service_tier"] == "auto"


async def test_reasoning_effort_switches_thinking_on_and_none_off(served: Any) -> None:
    app = echo_app(served)
    on = (await _post(app, {"input": "q", "reasoning": {"effort": "high"}})).json()
    off = (await _post(app, {"input": "q", "reasoning": {"effort": "none"}})).json()
    assert "[thinking on]" in on["output"][-1]["content"][0]["text"]
    assert "[thinking on]" not in off["output"][-1]["content"][0]["text"]


async def test_encrypted_reasoning_is_returned_and_read_back(served: Any) -> None:
    app = served("<think>The user greets.</think>Hello!", model_chat_template=ECHO_TEMPLATE,
                 reasoning_markers=("<think>", "</think>"))  # the echo template declares no reasoning
    first = (await _post(app, {"input": "hi", "include": ["reasoning.encrypted_content"]})).json()
    reasoning = first["output"][0]
    assert reasoning["type"] == "reasoning" and reasoning["encrypted_content"]
    assert "The user greets." not in reasoning["encrypted_content"]
    plain = (await _post(app, {"input": "hi"})).json()
    assert "encrypted_content" not in plain["output"][0]
    echo = echo_app(served)
    history = [{"role": "user", "content": "hi"},
               {"type": "reasoning", "id": reasoning["id"], "summary": [],
                "encrypted_content": reasoning["encrypted_content"]},
               {"type": "message", "role": "assistant", "content": [{"type": "output_text", "text": "Hello!"}]},
               {"role": "user", "content": "again"}]
    seen = (await _post(echo, {"input": history})).json()["output"][-1]["content"][0]["text"]
    assert "[thought: The user greets.]Hello!" in seen
    foreign = [{**history[1], "encrypted_content": "gAAAAABo-another-servers-token"}, *history[2:]]
    response = await _post(echo, {"input": [history[0], *foreign]})
    assert response.status_code == 200 and "[thought:" not in response.json()["output"][-1]["content"][0]["text"]


async def test_previous_response_id_continues_a_stored_conversation(served: Any) -> None:
    app = echo_app(served)
    first = (await _post(app, {"input": "my name is Ada", "instructions": "first instructions"})).json()
    assert first["store"] is True
    second = await _post(app, {"input": "what is my name?", "previous_response_id": first["id"]})
    assert second.status_code == 200, second.text
    prompt = second.json()["output"][-1]["content"][0]["text"]
    assert "my name is Ada" in prompt and "what is my name?" in prompt and "PROMPT:" in prompt
    assert "first instructions" not in prompt
    third = (await _post(app, {"input": "and now?", "previous_response_id": second.json()["id"]})).json()
    assert "my name is Ada" in third["output"][-1]["content"][0]["text"]
    unstored = (await _post(app, {"input": "x", "store": False})).json()
    for missing in (unstored["id"], "resp_unknown"):
        response = await _post(app, {"input": "y", "previous_response_id": missing})
        assert response.status_code == 404
        assert response.json()["error"]["param"] == "previous_response_id"


async def test_max_tool_calls_and_parallel_tool_calls_bound_the_calls(served: Any) -> None:
    calls = "".join('<tool_call>\n' + json.dumps({"name": "get_weather", "arguments": {"city": city}})
                    + '\n</tool_call>' for city in ("Paris", "Rome", "Oslo"))
    app = served(calls, tool_parser="json")
    every = (await _post(app, {"input": "w", "tools": [FUNCTION]})).json()
    assert [json.loads(i["arguments"])["city"] for i in every["output"]] == ["Paris", "Rome", "Oslo"]
    two = (await _post(app, {"input": "w", "tools": [FUNCTION], "max_tool_calls": 2})).json()
    assert [i["type"] for i in two["output"]] == ["function_call", "function_call"]
    one = (await _post(app, {"input": "w", "tools": [FUNCTION], "parallel_tool_calls": False,
                             "stream": False})).json()
    assert len(one["output"]) == 1 and one["status"] == "completed"


async def test_truncation_auto_drops_the_oldest_turns(served: Any) -> None:
    app = served("ok", context_length=400)
    history = [{"role": "user" if i % 2 == 0 else "assistant", "content": f"turn {i} " + "x" * 60}
               for i in range(12)] + [{"role": "user", "content": "last question"}]
    refused = await _post(app, {"input": history})
    assert refused.status_code == 400 and refused.json()["error"]["code"] == "context_length_exceeded"
    response = await _post(app, {"input": history, "truncation": "auto", "instructions": "be brief"})
    assert response.status_code == 200, response.text


async def test_hosted_tools_are_left_out_and_named_or_refused(served: Any) -> None:
    app = served("plain answer", tool_parser="json")
    tools = [{"type": "web_search", "external_web_access": False}, FUNCTION,
             {"type": "tool_search", "execution": "client", "parameters": {"type": "object"}}]
    async with http_client(app) as http:
        response = await http.post("/v1/responses", json={"model": "scripted", "input": "q", "tools": tools})
        streamed = await http.post("/v1/responses", json={"model": "scripted", "input": "q", "tools": tools,
                                                          "stream": True})
    assert response.status_code == 200, response.text
    assert response.headers["x-lmstream-ignored-tools"] == "web_search,tool_search"
    assert streamed.headers["x-lmstream-ignored-tools"] == "web_search,tool_search"
    state = app.state.lmstream
    state.limits = dataclasses.replace(state.limits, refuse_hosted_tools=True)
    refused = await _post(app, {"input": "q", "tools": tools})
    assert refused.status_code == 400 and refused.json()["error"]["param"] == "tools[0].type"


async def test_text_format_json_schema_in_the_responses_shape(served: Any) -> None:
    pytest.importorskip("llguidance")

    class City(BaseModel):
        name: str
        country: str

    client = openai_client(served('{"name": "Paris", "country": "France"}'))
    parsed = await client.responses.parse(model="scripted", input="A city?", text_format=City)
    assert parsed.output_parsed == City(name="Paris", country="France")
    response = await _post(served('{"a": 1}'), {"input": "json", "text": {"format": {"type": "json_object"}}})
    assert json.loads(response.json()["output"][-1]["content"][0]["text"]) == {"a": 1}


def test_usage_reports_cached_prompt_tokens() -> None:
    builder = ResponseBuilder("m", {}, encrypted_reasoning=False)
    info = Info(StopReason.STOP, GenerationStats(prompt_tokens=5, cached_prompt_tokens=95, generated_tokens=7))
    usage = builder.response("completed", info)["usage"]
    assert usage["input_tokens"] == 100 and usage["input_tokens_details"] == {"cached_tokens": 95}
    assert usage["output_tokens"] == 7 and usage["total_tokens"] == 107


async def test_a_message_cut_at_the_token_limit_is_incomplete(served: Any) -> None:
    """``max_output_tokens`` reached: the response and its message item are ``incomplete``,
    streamed (``output_item.done``) and not, as the API marks them."""
    app = served("one two three four five six seven eight")
    whole = (await _post(app, {"input": "count", "max_output_tokens": 3, "stream": False})).json()
    assert whole["status"] == "incomplete" and [i["status"] for i in whole["output"]] == ["incomplete"]
    raw = await _post(app, {"input": "count", "max_output_tokens": 3, "stream": True})
    events = [json.loads(data) for _, data in sse_events(raw.content)]
    done = [e["item"]["status"] for e in events if e["type"] == "response.output_item.done"]
    assert done == ["incomplete"] and events[-1]["type"] == "response.incomplete"
    assert events[-1]["response"]["output"][0]["status"] == "incomplete"
    finished = (await _post(app, {"input": "count", "max_output_tokens": 100, "stream": False})).json()
    assert finished["status"] == "completed" and finished["output"][0]["status"] == "completed"
