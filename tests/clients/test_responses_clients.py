"""Real clients of /v1/responses against a real `lmstream serve` process (scripted backend):
the official `openai` client (create, streaming, parse) and the OpenAI Agents SDK's Responses
model (a function tool with `Runner.run` and `Runner.run_streamed`, an `output_type`)."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager

import pytest
from pydantic import BaseModel

openai = pytest.importorskip("openai")
pytest.importorskip("starlette")

pytestmark = pytest.mark.clients

CITY = '{"name": "Paris", "country": "France"}'
WEATHER_CALL = '<tool_call>\n' + json.dumps({"name": "get_weather", "arguments": {"city": "Paris"}}) + '\n</tool_call>'


class City(BaseModel):
    """The structured answer both clients parse."""

    name: str
    country: str


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextmanager
def serve(reply: str | list[str], *options: str) -> Iterator[str]:
    """``lmstream serve --backend scripted`` on 127.0.0.1; yields its /v1 URL; stopped at the end."""
    port = _free_port()
    command = [sys.executable, "-m", "lmstream", "serve", "--backend", "scripted", "-o",
               "reply=" + json.dumps(reply), *options, "--host", "127.0.0.1", "--port", str(port),
               "--log-level", "warning"]
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                               env={**os.environ, "HF_HUB_OFFLINE": "1"})
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 120
        while True:
            if process.poll() is not None:
                raise RuntimeError(f"lmstream serve exited: {process.stdout.read()}")  # type: ignore[union-attr]
            try:
                with urllib.request.urlopen(f"{base}/health", timeout=1):
                    break
            except OSError:
                if time.monotonic() > deadline:
                    raise TimeoutError("lmstream serve did not start") from None
                time.sleep(0.1)
        yield f"{base}/v1"
    finally:
        process.send_signal(signal.SIGINT)
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=10)


@pytest.fixture(scope="module")
def city_server() -> Iterator[str]:
    with serve(CITY) as url:
        yield url


@pytest.fixture(scope="module")
def weather_server() -> Iterator[str]:
    with serve([WEATHER_CALL, "It is sunny in Paris."], "-o", 'tool_parser="json"') as url:
        yield url


def test_openai_client_create_stream_and_parse(city_server: str) -> None:
    client = openai.OpenAI(base_url=city_server, api_key="unused", max_retries=0)
    response = client.responses.create(model="scripted", input="A city?", include=[], store=False)
    assert response.output_text == CITY and response.status == "completed"
    with client.responses.stream(model="scripted", input="A city?") as stream:
        deltas = [event.delta for event in stream if event.type == "response.output_text.delta"]
        final = stream.get_final_response()
    assert "".join(deltas) == CITY == final.output_text
    parsed = client.responses.parse(model="scripted", input="A city?", text_format=City)
    assert parsed.output_parsed == City(name="Paris", country="France")
    stored = client.responses.create(model="scripted", input="A city?")
    follow = client.responses.create(model="scripted", input="Again?", previous_response_id=stored.id)
    assert follow.status == "completed" and follow.previous_response_id == stored.id
    for missing in (response.id, "resp_missing"):  # store: false stored nothing
        with pytest.raises(openai.NotFoundError):
            client.responses.create(model="scripted", input="x", previous_response_id=missing)


def _agents() -> None:
    """Skip without the Agents SDK; never send traces anywhere."""
    agents = pytest.importorskip("agents")
    agents.set_tracing_disabled(True)


async def test_agents_sdk_function_tool_run_and_run_streamed(weather_server: str) -> None:
    _agents()
    from agents import Agent, OpenAIResponsesModel, Runner, function_tool

    calls: list[str] = []

    @function_tool
    def get_weather(city: str) -> str:
        """The weather in a city."""
        calls.append(city)
        return f"sunny in {city}"

    client = openai.AsyncOpenAI(base_url=weather_server, api_key="unused", max_retries=0)
    agent = Agent(name="weather", instructions="Answer with the tool.", tools=[get_weather],
                  model=OpenAIResponsesModel(model="scripted", openai_client=client))
    result = await Runner.run(agent, "Weather in Paris?")
    assert result.final_output == "It is sunny in Paris." and calls == ["Paris"]
    streamed = Runner.run_streamed(agent, "Weather in Paris?")
    kinds = [event.type async for event in streamed.stream_events()]
    assert streamed.final_output == "It is sunny in Paris." and calls == ["Paris", "Paris"]
    assert "raw_response_event" in kinds


async def test_agents_sdk_output_type(city_server: str) -> None:
    _agents()
    from agents import Agent, OpenAIResponsesModel, Runner

    client = openai.AsyncOpenAI(base_url=city_server, api_key="unused", max_retries=0)
    agent = Agent(name="cities", instructions="Name a city.", output_type=City,
                  model=OpenAIResponsesModel(model="scripted", openai_client=client))
    result = await Runner.run(agent, "A city in France?")
    assert result.final_output == City(name="Paris", country="France")
