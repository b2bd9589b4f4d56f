"""response_format and tool_choice through the server, enforced by the core's constraint engine."""

from __future__ import annotations

import json
from typing import Any

import pytest

from .conftest import http_client, openai_client

pytest.importorskip("llguidance")

USER = [{"role": "user", "content": "Where?"}]
CITY = {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"],
        "additionalProperties": False}


async def test_json_schema_output_validates(served: Any) -> None:
    # the scripted model wants to add a key the schema forbids: only enforcement drops it
    client = openai_client(served('{"city": "Paris", "extra": 1}'))
    answer = await client.chat.completions.create(
        model="scripted", messages=USER,
        response_format={"type": "json_schema", "json_schema": {"name": "city", "schema": CITY}})
    assert json.loads(answer.choices[0].message.content) == {"city": "Paris"}
    assert answer.choices[0].finish_reason == "stop"


async def test_an_invalid_schema_is_a_400_naming_the_field(served: Any) -> None:
    async with http_client(served()) as client:
        response = await client.post("/v1/chat/completions", json={
            "model": "scripted", "messages": USER,
            "response_format": {"type": "json_schema", "json_schema": {"name": "x", "schema": {"type": "bogus"}}}})
    assert response.status_code == 400, response.text
    assert response.json()["error"]["param"].startswith("response_format")
