"""Many streams on one context: no event is ever delivered to the wrong stream."""

from __future__ import annotations

import asyncio
import threading

import lmstream
from lmstream import Chunk, StopReason


async def test_fifty_concurrent_async_streams_on_one_context(scripted):
    context = scripted(lambda prompt: f"reply to {prompt}!", cut="chars")

    async def one(i: int) -> tuple[int, str, lmstream.Info]:
        stream = lmstream.generate(f"prompt-{i}", context=context)
        text, info = [], None
        async for event in stream:
            if isinstance(event, Chunk):
                text.append(event.text)
            else:
                info = event
        return i, "".join(text), info

    results = await asyncio.gather(*(one(i) for i in range(50)))
    for i, text, info in results:
        assert text == f"reply to prompt-{i}!"
        assert info.stop_reason == StopReason.STOP


def test_concurrent_sync_consumers_in_threads(scripted):
    context = scripted(lambda prompt: prompt.upper(), cut="chars", token_delay=0.001)
    results: dict[int, str] = {}

    def worker(i: int) -> None:
        results[i] = context.generate(f"thread {i}").text

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(10)
    assert results == {i: f"THREAD {i}" for i in range(8)}
