"""``GET`` and ``DELETE /v1/responses/{id}`` through the official openai client: a stored
response comes back as it was returned, a deleted or unstored one is a 404, and a deleted
response can no longer be continued."""

from __future__ import annotations

import json
from typing import Any

import pytest

from .conftest import http_client, openai, openai_client, sse_events


async def test_a_stored_response_is_retrieved_as_returned(served: Any) -> None:
    client = openai_client(served("Sunny, 20 degrees."))
    created = await client.responses.create(model="scripted", input="weather?")
    got = await client.responses.retrieve(created.id)
    assert got.model_dump() == created.model_dump()
    assert got.output_text == "Sunny, 20 degrees."


async def test_a_streamed_response_is_retrieved_as_its_completed_event(served: Any) -> None:
    app = served("Sunny.")
    client = openai_client(app)
    completed = None
    async with client.responses.stream(model="scripted", input="weather?") as stream:
        async for event in stream:
            if event.type == "response.completed":
                completed = event.response
    assert completed is not None
    got = await client.responses.retrieve(completed.id)
    assert got.status == "completed" and got.output_text == "Sunny." and got.id == completed.id
    async with http_client(app) as http:  # the wire objects: the very one the event carried
        raw = await http.post("/v1/responses", json={"model": "scripted", "input": "weather?", "stream": True})
        final = [json.loads(data) for _, data in sse_events(raw.content)][-1]
        assert final["type"] == "response.completed"
        stored = await http.get(f"/v1/responses/{final['response']['id']}")
    assert stored.status_code == 200 and stored.json() == final["response"]


async def test_delete_forgets_it_and_unstored_ones_are_404(served: Any) -> None:
    client = openai_client(served("ok"))
    created = await client.responses.create(model="scripted", input="hi")
    await client.responses.delete(created.id)
    with pytest.raises(openai.NotFoundError):
        await client.responses.retrieve(created.id)
    with pytest.raises(openai.NotFoundError):
        await client.responses.delete(created.id)
    with pytest.raises(openai.NotFoundError):  # the conversation went with it
        await client.responses.create(model="scripted", input="again", previous_response_id=created.id)
    unstored = await client.responses.create(model="scripted", input="hi", store=False)
    with pytest.raises(openai.NotFoundError):
        await client.responses.retrieve(unstored.id)
