"""The official JavaScript clients against a real ``lmstream serve`` process (scripts in ``js/``).

openai-node (Chat Completions, Responses), ``@anthropic-ai/sdk`` (Messages, count_tokens, the
tool runner, parse), the Vercel AI SDK (``ai`` with ``@ai-sdk/openai`` chat and responses and
``@ai-sdk/anthropic`` and ``@ai-sdk/openai-compatible``: generateText / streamText tool loops, Output.object, generateObject) and
LangChain JS (``@langchain/openai``). Each script checks the protocol itself and prints its
results; the scripted backend makes the answers exact. One slow test runs every script on the
default model, started with no flags but host and port. Skipped where node / npm are missing.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from ..server.serve_process import serve
from .conftest import FINAL, WEATHER_CALL, Server
from .js_runner import prepared_dir, run_script

pytest.importorskip("starlette")
pytest.importorskip("llguidance")

pytestmark = pytest.mark.clients

TEXT = "Paris is sunny."
WEATHER = json.dumps({"city": "Paris", "temperature": 24})
CITY = {"city": "Paris"}
LOOP = {"arguments": CITY, "text": FINAL}


@pytest.fixture(scope="module")
def js() -> Path:
    """The folder the scripts run in, their packages installed (once)."""
    return prepared_dir()


def test_openai_chat_completions(js: Path, scripted_server: Server) -> None:
    with scripted_server([TEXT, TEXT, TEXT, WEATHER_CALL, FINAL, WEATHER_CALL, FINAL, WEATHER]) as base:
        results = run_script(js, "openai_chat.mjs", base)
    assert results["create"] == {"content": TEXT, "finish_reason": "stop"}
    assert results["stream"]["content"] == TEXT and results["stream"]["finish_reason"] == "stop"
    assert results["app_fields"] == {"content": TEXT}
    for name in ("tool_loop", "tool_loop_stream"):
        assert results[name] == {"arguments": CITY, "answer": FINAL, "finish_reason": "stop"}, name
    assert results["json_schema"] == {"parsed": json.loads(WEATHER)}
    assert results["models"] == {"ids": ["scripted"]}


def test_openai_responses(js: Path, scripted_server: Server) -> None:
    with scripted_server([TEXT, TEXT, WEATHER_CALL, FINAL, WEATHER_CALL, FINAL, WEATHER]) as base:
        results = run_script(js, "openai_responses.mjs", base)
    assert results["create"] == {"output_text": TEXT, "status": "completed"}
    assert results["stream"]["output_text"] == TEXT and "response.output_text.delta" in results["stream"]["events"]
    for name in ("function_call_round_trip", "previous_response_id"):
        assert results[name] == {"arguments": CITY, "output_text": FINAL}, name
    assert results["json_schema"] == {"parsed": json.loads(WEATHER)}


def test_anthropic_messages(js: Path, scripted_server: Server) -> None:
    replies = [TEXT, TEXT, WEATHER_CALL, FINAL, WEATHER_CALL, FINAL, TEXT, WEATHER_CALL, FINAL, WEATHER]
    with scripted_server(replies) as base:
        results = run_script(js, "anthropic_messages.mjs", base)
    for name in ("create", "stream", "beta"):
        assert results[name] == {"text": TEXT, "stop_reason": "end_turn"}, name
    for name in ("tool_loop", "tool_loop_stream"):
        assert results[name] == {"input": CITY, "text": FINAL, "stop_reason": "end_turn"}, name
    assert results["count_tokens"]["input_tokens"] > 0 and results["models"] == {"ids": ["scripted"]}
    assert results["tool_runner"] == {"turns": 2, "input": CITY, "last": [{"type": "text", "text": FINAL}]}
    assert results["parse_output_format"] == {"parsed": json.loads(WEATHER)}


@pytest.mark.parametrize("provider", ["openai-chat", "openai-responses", "anthropic", "openai-compatible"])
def test_vercel_ai_sdk(js: Path, scripted_server: Server, provider: str) -> None:
    with scripted_server([WEATHER_CALL, FINAL, WEATHER_CALL, FINAL, WEATHER, WEATHER]) as base:
        results = run_script(js, "ai_sdk.mjs", base, provider)
    for name in ("generate_text_loop", "stream_text_loop"):
        loop = results[name]
        assert (loop["steps"], loop["arguments"], loop["text"], loop["finishReason"]) == (2, CITY, FINAL, "stop"), name
    assert results["output_object"] == results["generate_object"] == {"object": json.loads(WEATHER)}


def test_langchain_js(js: Path, scripted_server: Server) -> None:
    with scripted_server([TEXT, TEXT, WEATHER_CALL, FINAL, WEATHER]) as base:
        results = run_script(js, "langchain_openai.mjs", base)
    assert results["invoke"] == results["stream"] == {"content": TEXT}
    assert results["tool_loop"] == {"arguments": CITY, "content": FINAL}
    assert results["structured_output"] == {"object": json.loads(WEATHER)}


SCRIPTS: list[tuple[str, ...]] = [
    ("openai_chat.mjs",), ("openai_responses.mjs",), ("anthropic_messages.mjs",), ("langchain_openai.mjs",),
    ("ai_sdk.mjs", "openai-chat"), ("ai_sdk.mjs", "openai-responses"), ("ai_sdk.mjs", "anthropic"),
    ("ai_sdk.mjs", "openai-compatible"),
]


@pytest.fixture(scope="module")
def default_base() -> Iterator[str]:
    """``lmstream serve`` with no flags but host and port: the embedded default model."""
    with serve() as (url, _process):
        yield url


@pytest.mark.slow
def test_every_js_client_on_the_default_model(js: Path, default_base: str) -> None:
    """Each script's own checks hold on a real model: tool calls forced, short answers."""
    answers: dict[str, Any] = {}
    for script, *args in SCRIPTS:
        answers[" ".join([script, *args])] = run_script(js, script, default_base, *args, max_tokens=60)
    chat = answers["openai_chat.mjs"]
    assert chat["tool_loop"]["arguments"]["city"] and chat["tool_loop"]["answer"].strip()
    assert answers["ai_sdk.mjs anthropic"]["generate_text_loop"]["steps"] >= 2
