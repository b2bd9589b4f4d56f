"""``langchain-openai``'s ChatOpenAI against a real ``lmstream serve``: a ``bind_tools`` loop (call,
tool result, answer), ``with_structured_output`` (JSON schema and function calling), streaming."""

from __future__ import annotations

from typing import Any

import pytest
from pydantic import BaseModel

from .conftest import FINAL, WEATHER_CALL, Server

pytest.importorskip("langchain_openai")

from langchain_core.messages import HumanMessage, ToolMessage
from langchain_core.tools import tool
from langchain_openai import ChatOpenAI

pytestmark = pytest.mark.clients


@tool
def get_weather(city: str) -> str:
    """Weather in a city."""
    return f"sunny, 24 C in {city}"


class Weather(BaseModel):
    """The weather in a city."""

    city: str
    temperature: int


def _llm(base: str, **kwargs: Any) -> Any:
    return ChatOpenAI(model="gpt-4o-mini", base_url=f"{base}/v1", api_key="unused", max_retries=0,
                      timeout=60, **kwargs)


@pytest.mark.parametrize("tool_choice", [None, "required"])
def test_bind_tools_loop(scripted_server: Server, tool_choice: str | None) -> None:
    with scripted_server([WEATHER_CALL, FINAL]) as base:
        llm = _llm(base).bind_tools([get_weather], **({"tool_choice": tool_choice} if tool_choice else {}))
        messages: list[Any] = [HumanMessage("What is the weather in Paris?")]
        first = llm.invoke(messages)
        assert [c["name"] for c in first.tool_calls] == ["get_weather"]
        assert first.tool_calls[0]["args"] == {"city": "Paris"}
        messages += [first, ToolMessage(get_weather.invoke(first.tool_calls[0]["args"]),
                                        tool_call_id=first.tool_calls[0]["id"])]
        second = _llm(base).bind_tools([get_weather]).invoke(messages)
        assert second.content == FINAL and not second.tool_calls


def test_streaming_text(scripted_server: Server) -> None:
    with scripted_server(FINAL) as base:
        pieces = [chunk.content for chunk in _llm(base, stream_usage=True).stream("Weather?")]
        assert "".join(str(p) for p in pieces) == FINAL


def test_with_structured_output_json_schema(scripted_server: Server) -> None:
    pytest.importorskip("llguidance")
    with scripted_server('{"city": "Paris", "temperature": 24}') as base:
        result = _llm(base).with_structured_output(Weather).invoke("Weather in Paris?")
        assert result == Weather(city="Paris", temperature=24)


def test_with_structured_output_function_calling(scripted_server: Server) -> None:
    pytest.importorskip("llguidance")
    call = '<tool_call>\n{"name": "Weather", "arguments": {"city": "Paris", "temperature": 24}}\n</tool_call>'
    with scripted_server(call) as base:
        result = _llm(base).with_structured_output(Weather, method="function_calling").invoke("Weather?")
        assert result == Weather(city="Paris", temperature=24)
