"""A real agent loop on the default model through a plain ``lmstream serve`` (no flags).

Turn 1 declares a tool and forces a call (``tool_choice`` required / ``any``); the client sends
the tool's result back; turn 2 (``tool_choice`` none) answers in text. Run with the official
``openai`` client (Chat Completions and Responses) and the ``anthropic`` client (Messages);
Completions, which has no tools, answers a plain prompt. The server picks the backend itself
(``backend="auto"``) and finds a tool format by itself (the generic fallback on SmolLM2).
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest

from ..server.serve_process import serve

openai = pytest.importorskip("openai")
anthropic = pytest.importorskip("anthropic")
pytest.importorskip("starlette")
pytest.importorskip("llguidance")

pytestmark = [pytest.mark.slow, pytest.mark.clients]

QUESTION = "What is the weather in Paris right now? Use the tool."
RESULT = "Sunny, 24 degrees Celsius."
PARAMETERS = {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}


@pytest.fixture(scope="module")
def base() -> Iterator[str]:
    """One ``lmstream serve`` with no options at all: the embedded default model."""
    with serve() as (url, _process):
        yield url


def _arguments(text: str) -> dict[str, Any]:
    arguments = json.loads(text)
    assert isinstance(arguments, dict) and isinstance(arguments.get("city"), str), arguments
    return arguments


def test_chat_completions_tool_loop(base: str) -> None:
    client = openai.OpenAI(base_url=f"{base}/v1", api_key="unused", max_retries=0, timeout=120)
    tools = [{"type": "function", "function": {"name": "get_weather", "description": "Current weather in a city.",
                                               "parameters": PARAMETERS}}]
    messages: list[Any] = [{"role": "user", "content": QUESTION}]
    first = client.chat.completions.create(model="gpt-4o", messages=messages, tools=tools,
                                           tool_choice="required", max_tokens=60, temperature=0)
    calls = first.choices[0].message.tool_calls
    assert first.choices[0].finish_reason == "tool_calls" and calls and calls[0].function.name == "get_weather"
    _arguments(calls[0].function.arguments)
    messages += [first.choices[0].message.model_dump(exclude_none=True),
                 {"role": "tool", "tool_call_id": calls[0].id, "content": RESULT}]
    second = client.chat.completions.create(model="gpt-4o", messages=messages, tools=tools,
                                            tool_choice="none", max_tokens=40, temperature=0)
    assert second.choices[0].message.content and not second.choices[0].message.tool_calls


def test_responses_tool_loop(base: str) -> None:
    client = openai.OpenAI(base_url=f"{base}/v1", api_key="unused", max_retries=0, timeout=120)
    tools = [{"type": "function", "name": "get_weather", "description": "Current weather in a city.",
              "parameters": PARAMETERS}]
    first = client.responses.create(model="gpt-4.1", input=QUESTION, tools=tools, tool_choice="required",
                                    max_output_tokens=60, temperature=0)
    calls = [item for item in first.output if item.type == "function_call"]
    assert calls and calls[0].name == "get_weather"
    _arguments(calls[0].arguments)
    items: list[Any] = [{"role": "user", "content": QUESTION},
                        {"type": "function_call", "call_id": calls[0].call_id, "name": calls[0].name,
                         "arguments": calls[0].arguments},
                        {"type": "function_call_output", "call_id": calls[0].call_id, "output": RESULT}]
    second = client.responses.create(model="gpt-4.1", input=items, tools=tools, tool_choice="none",
                                     max_output_tokens=40, temperature=0)
    assert second.output_text and not [item for item in second.output if item.type == "function_call"]


def test_messages_tool_loop(base: str) -> None:
    client = anthropic.Anthropic(base_url=base, api_key="unused", max_retries=0, timeout=120)
    tools = [{"name": "get_weather", "description": "Current weather in a city.", "input_schema": PARAMETERS}]
    messages: list[Any] = [{"role": "user", "content": QUESTION}]
    first = client.messages.create(model="claude-sonnet-4-5", max_tokens=60, messages=messages, tools=tools,
                                   tool_choice={"type": "any"})
    uses = [block for block in first.content if block.type == "tool_use"]
    assert first.stop_reason == "tool_use" and uses and uses[0].name == "get_weather"
    assert isinstance(uses[0].input.get("city"), str)
    messages += [{"role": "assistant", "content": [block.model_dump(exclude_none=True) for block in first.content]},
                 {"role": "user", "content": [{"type": "tool_result", "tool_use_id": uses[0].id, "content": RESULT}]}]
    second = client.messages.create(model="claude-sonnet-4-5", max_tokens=40, messages=messages, tools=tools,
                                    tool_choice={"type": "none"})
    texts = [block.text for block in second.content if block.type == "text"]
    assert "".join(texts).strip() and not [block for block in second.content if block.type == "tool_use"]


def test_completions_answer(base: str) -> None:
    client = openai.OpenAI(base_url=f"{base}/v1", api_key="unused", max_retries=0, timeout=120)
    answer = client.completions.create(model="gpt-3.5-turbo-instruct", prompt="The capital of France is",
                                       max_tokens=8, temperature=0)
    assert answer.choices[0].text.strip()
