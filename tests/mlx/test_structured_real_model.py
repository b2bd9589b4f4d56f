"""Structured output on the default model (SmolLM2-135M-Instruct via MLX), kept short: a few
bounded schemas greedy and sampled, a regex, a Lark grammar, and forced tool calls in the json
and pythonic formats. benchmarks/structured_output.py --validate runs all 20 schemas x
(greedy + 3 seeds)."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import jsonschema
import pytest

pytestmark = pytest.mark.slow
pytest.importorskip("llguidance")

SCHEMAS = {item["name"]: item for item in json.loads(
    (Path(__file__).resolve().parents[1] / "data" / "structured_schemas.json").read_text(encoding="utf-8"))}


def ask(item: dict[str, Any]) -> list[dict[str, str]]:
    return [{"role": "user", "content": f"Reply with JSON only: {item['about']}. "
                                        f"JSON schema: {json.dumps(item['schema'])}"}]


@pytest.mark.parametrize(("name", "setting"), [
    ("person", {}), ("color", {}), ("yesno", {}), ("planet", {}), ("measurement", {}),
    ("color", {"temperature": 0.8, "seed": 1}), ("rating", {"temperature": 0.8, "seed": 2}),
])
def test_schemas_greedy_and_sampled_validate(default_context: Any, name: str, setting: dict[str, Any]) -> None:
    item = SCHEMAS[name]
    result = default_context.generate(
        messages=ask(item), max_tokens=48, **setting,
        response_format={"type": "json_schema", "json_schema": {"name": name, "schema": item["schema"]}})
    assert result.stop_reason == "stop", result.text
    jsonschema.validate(result.parsed, item["schema"])


def test_regex_and_grammar(default_context: Any) -> None:
    phone = default_context.generate(messages=[{"role": "user", "content": "Give me a phone number."}],
                                     max_tokens=16, response_format={"type": "regex", "pattern": "[0-9]{3}-[0-9]{4}"})
    assert phone.stop_reason == "stop" and re.fullmatch(r"[0-9]{3}-[0-9]{4}", phone.text)
    lark = 'start: NUMBER OP NUMBER\nOP: "+" | "-" | "*"\nNUMBER: /[0-9]{1,3}/'
    sum_ = default_context.generate(messages=[{"role": "user", "content": "Write an arithmetic expression."}],
                                    max_tokens=16, response_format={"type": "grammar", "lark": lark})
    assert sum_.stop_reason == "stop" and re.fullmatch(r"[0-9]{1,3}[-+*][0-9]{1,3}", sum_.text), sum_.text


WEATHER = {"type": "object", "required": ["city", "days"],
           "properties": {"city": {"type": "string", "maxLength": 20},
                          "days": {"type": "integer", "minimum": 1, "maximum": 7}}}
TOOLS = [{"type": "function", "function": {"name": "get_weather", "description": "Weather forecast",
                                           "parameters": WEATHER}}]


@pytest.mark.parametrize("fmt", ["json", "pythonic"])
def test_required_tool_call_validates(default_context: Any, fmt: str) -> None:
    result = default_context.generate(
        messages=[{"role": "user", "content": "What's the weather in Paris for the next 3 days?"}],
        tools=TOOLS, tool_parser=fmt, tool_choice="required", max_tokens=48)
    assert result.stop_reason == "stop"
    assert [call.name for call in result.tool_calls] == ["get_weather"], (result.text, result.rejected_tool_calls)
    jsonschema.validate(result.tool_calls[0].arguments, WEATHER)


def test_concurrent_streams_with_different_schemas_share_batched_steps(default_context: Any) -> None:
    """Three schemas at once: the MLX batch runner masks each row with its own constraint."""
    names = ["color", "yesno", "planet"]
    streams = [default_context.generate_stream(
        messages=ask(SCHEMAS[name]), max_tokens=48,
        response_format={"type": "json_schema", "json_schema": {"name": name, "schema": SCHEMAS[name]["schema"]}})
        for name in names]
    for name, stream in zip(names, streams, strict=True):
        events = list(stream)
        info = events[-1]
        text = "".join(e.text for e in events if type(e).__name__ == "Chunk" and e.channel == "content")
        assert info.stop_reason == "stop", (name, text, info.error)
        jsonschema.validate(json.loads(text), SCHEMAS[name]["schema"])
