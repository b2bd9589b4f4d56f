"""Requests the server refuses leave nothing behind: the garbage of a 400 (its exception and
traceback holding the parsed body) is reclaimed by ordinary collections, and no request moves
other objects out of reach of them or out of the frozen start-up heap."""

from __future__ import annotations

import gc
import json
from typing import Any

from .conftest import http_client

REFUSED = json.dumps({"model": "scripted", "max_tokens": 2,
                      "messages": [{"role": "user", "content": "a"}] * 4999 + [{"role": "x", "content": "a"}]}).encode()
"""5,000 messages, the last with an unknown role: a 400 after the whole body was parsed and walked."""
HEADERS = {"content-type": "application/json"}


async def test_refused_bodies_do_not_accumulate(served: Any) -> None:
    """30 refused bodies of ~15,000 objects each: without a forced collection, the tracked
    objects do not grow by more than a few bodies' worth (they grew by 300,000 when each
    request aged the young garbage into the oldest generation, where only full collections,
    which that garbage never triggers, look)."""
    app = served()
    async with http_client(app) as http:
        for _ in range(3):
            await http.post("/v1/chat/completions", content=REFUSED, headers=HEADERS)
        before = len(gc.get_objects())
        for _ in range(30):
            response = await http.post("/v1/chat/completions", content=REFUSED, headers=HEADERS)
            assert response.status_code == 400, response.text
            assert response.json()["error"]["param"] == "messages[4999].role"
        grown = len(gc.get_objects()) - before
    assert grown < 50_000, f"{grown} objects more after 30 refused requests"


async def test_requests_leave_the_frozen_heap_frozen(served: Any) -> None:
    """``lmstream serve`` freezes its start-up heap; parsing a request must not unfreeze it."""
    app = served()
    gc.collect()
    gc.freeze()
    try:
        frozen = gc.get_freeze_count()
        async with http_client(app) as http:
            for body in (REFUSED, json.dumps({"model": "scripted", "messages": [{"role": "user", "content": "hi"}]})):
                await http.post("/v1/chat/completions", content=body, headers=HEADERS)
        assert gc.get_freeze_count() > frozen // 2  # a few frozen objects die meanwhile; unfrozen, none stay
    finally:
        gc.unfreeze()
