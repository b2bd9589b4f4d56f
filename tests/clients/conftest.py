"""Client-matrix fixtures: a real ``lmstream serve`` process on the scripted backend, per test.

The scripted model answers its generations with the replies given, in order (a list cycles),
so a test scripts a whole agent loop: a tool call on turn 1, the final answer on turn 2. Its
tokenizer config names the Hermes tool-call format (``tool_parser_type``), as a Qwen-style
model's does: the tool format comes from the model, and the server runs with no flags.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from typing import Any

import pytest

from ..server.serve_process import serve

WEATHER_CALL = '<tool_call>\n{"name": "get_weather", "arguments": {"city": "Paris"}}\n</tool_call>'
"""Turn 1 of every tool loop: a Hermes-format call of get_weather(city="Paris")."""
FINAL = "It is sunny in Paris."
"""Turn 2: the answer after the tool result."""
WEATHER_TOOL = {"type": "function", "function": {
    "name": "get_weather", "description": "Weather in a city.",
    "parameters": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}}}

SMOL_TEMPLATE = ("{% for message in messages %}{{ '<|im_start|>' + message['role'] + '\\n' + message['content']"
                 " + '<|im_end|>\\n' }}{% endfor %}{% if add_generation_prompt %}"
                 "{{ '<|im_start|>assistant\\n' }}{% endif %}")
"""A SmolLM2-style template: it reads ``message['content']`` of every message, tool-call turns too."""

Server = Callable[..., AbstractContextManager[str]]


@pytest.fixture
def scripted_server() -> Server:
    """``scripted_server(replies, *args, tool_format="hermes")`` -> a context manager yielding the base URL."""

    @contextmanager
    def start(replies: list[str] | str, *args: str, tool_format: str | None = "hermes",
              options: dict[str, Any] | None = None) -> Iterator[str]:
        command = ["--backend", "scripted", "-o", f"reply={json.dumps(replies)}",
                   "-o", "context_length=65536"]
        if tool_format:
            command += ["-o", f"tool_parser_type={tool_format}"]
        for key, value in (options or {}).items():
            command += ["-o", f"{key}={json.dumps(value)}"]
        with serve(*command, *args) as (base, _process):
            yield base

    return start
