"""Server fixtures: apps over scripted models, and the official clients over httpx's ASGI transport.

The openai client uses ``httpx``; the anthropic client uses its ``httpx2`` fork: both ship an
ASGI transport, so most tests run the app in process with no socket at all.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Iterator
from typing import Any

import pytest

import lmstream

pytest.importorskip("starlette")
openai = pytest.importorskip("openai")
anthropic = pytest.importorskip("anthropic")
httpx = pytest.importorskip("httpx")

from lmstream_server import create_app  # noqa: E402

BASE = "http://lmstream.test"

WEATHER_TOOL = {"type": "function", "function": {
    "name": "get_weather", "description": "Weather in a city.",
    "parameters": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}}}


@pytest.fixture
def served() -> Iterator[Callable[..., Any]]:
    """``served(reply=..., **load_options, app_options={...})`` -> the ASGI app over a scripted model."""
    contexts: list[lmstream.ModelContext] = []

    def make(reply: Any = "Hello world", *, app_options: dict[str, Any] | None = None, **options: Any) -> Any:
        context = lmstream.load(backend="scripted", reply=reply, **options)
        contexts.append(context)
        return create_app(context, **(app_options or {}))

    yield make
    for context in contexts:
        context.close()


def http_client(app: Any, **headers: str) -> Any:
    """An httpx.AsyncClient talking to ``app`` in process."""
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url=BASE, headers=headers, timeout=30)


def openai_client(app: Any, api_key: str = "unused") -> Any:
    """The official async OpenAI client talking to ``app`` in process."""
    return openai.AsyncOpenAI(base_url=f"{BASE}/v1", api_key=api_key, http_client=http_client(app), max_retries=0)


def anthropic_client(app: Any, api_key: str = "unused") -> Any:
    """The official async Anthropic client talking to ``app`` in process (over httpx2)."""
    import httpx2

    transport = httpx2.ASGITransport(app=app)
    return anthropic.AsyncAnthropic(base_url=BASE, api_key=api_key, max_retries=0,
                                    http_client=httpx2.AsyncClient(transport=transport, base_url=BASE, timeout=30))


def sse_events(raw: bytes) -> list[tuple[str | None, str]]:
    """Split a raw SSE body into ``(event name, data)`` pairs (comments skipped)."""
    events = []
    for block in raw.decode().split("\n\n"):
        if not block.strip():
            continue
        name, data = None, []
        for line in block.split("\n"):
            if line.startswith(":"):
                continue
            if line.startswith("event: "):
                name = line[7:]
            elif line.startswith("data: "):
                data.append(line[6:])
        if data:
            events.append((name, "\n".join(data)))
    return events


@pytest.fixture
async def weather_app(served: Callable[..., Any]) -> AsyncIterator[Any]:
    """A model that thinks, says a word and calls get_weather (Hermes/Qwen JSON format)."""
    reply = ('<think>They want weather.</think>Checking. <tool_call>\n'
             '{"name": "get_weather", "arguments": {"city": "Paris"}}\n</tool_call>')
    yield served(reply, tool_parser="json")
