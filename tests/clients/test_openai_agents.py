"""The OpenAI Agents SDK with its Chat Completions model against a real ``lmstream serve``: one
function tool, ``Runner.run`` and ``Runner.run_streamed`` through a tool loop, and an
``output_type`` (structured final output). The SDK names its own model; the server serves it."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from pydantic import BaseModel

from .conftest import FINAL, WEATHER_CALL, Server

pytest.importorskip("agents")
openai = pytest.importorskip("openai")

from agents import (  # noqa: E402
    Agent,
    ModelSettings,
    OpenAIChatCompletionsModel,
    Runner,
    function_tool,
    set_tracing_disabled,
)

pytestmark = pytest.mark.clients

set_tracing_disabled(True)
CALLED: list[str] = []


@function_tool
def get_weather(city: str) -> str:
    """Weather in a city."""
    CALLED.append(city)
    return f"sunny, 24 C in {city}"


class Weather(BaseModel):
    city: str
    temperature: int


def _agent(base: str, tool_choice: str | None = "required", **kwargs: Any) -> Agent[Any]:
    client = openai.AsyncOpenAI(base_url=f"{base}/v1", api_key="unused", max_retries=0, timeout=60)
    model = OpenAIChatCompletionsModel(model="gpt-4.1", openai_client=client)
    return Agent(name="weather", instructions="Answer briefly.", tools=[get_weather], model=model,
                 model_settings=ModelSettings(tool_choice=tool_choice), **kwargs)


@pytest.mark.parametrize("tool_choice", ["required", None])
def test_runner_run_tool_loop(scripted_server: Server, tool_choice: str | None) -> None:
    CALLED.clear()
    with scripted_server([WEATHER_CALL, FINAL]) as base:
        result = asyncio.run(Runner.run(_agent(base, tool_choice), "What is the weather in Paris?"))
        assert CALLED == ["Paris"] and result.final_output == FINAL


def test_runner_run_streamed_tool_loop(scripted_server: Server) -> None:
    CALLED.clear()

    async def run(base: str) -> tuple[Any, list[str]]:
        result = Runner.run_streamed(_agent(base), "What is the weather in Paris?")
        kinds = [event.type async for event in result.stream_events()]
        return result, kinds

    with scripted_server([WEATHER_CALL, FINAL]) as base:
        result, kinds = asyncio.run(run(base))
        assert CALLED == ["Paris"] and result.final_output == FINAL
        assert "raw_response_event" in kinds and "run_item_stream_event" in kinds


def test_output_type(scripted_server: Server) -> None:
    pytest.importorskip("llguidance")
    CALLED.clear()
    with scripted_server([WEATHER_CALL, '{"city": "Paris", "temperature": 24}']) as base:
        result = asyncio.run(Runner.run(_agent(base, output_type=Weather), "Weather in Paris?"))
        assert CALLED == ["Paris"] and result.final_output == Weather(city="Paris", temperature=24)


def test_output_type_with_tool_choice_auto(scripted_server: Server) -> None:
    pytest.importorskip("llguidance")
    CALLED.clear()
    with scripted_server([WEATHER_CALL, '{"city": "Paris", "temperature": 24}']) as base:
        result = asyncio.run(Runner.run(_agent(base, None, output_type=Weather), "Weather in Paris?"))
        assert CALLED == ["Paris"] and result.final_output == Weather(city="Paris", temperature=24)
