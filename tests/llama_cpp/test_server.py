"""``lmstream serve --backend llama_cpp``'s app: the official OpenAI client against the
default model on llama.cpp, in process (httpx's ASGI transport; no socket).

Slow: real decoding (a few tokens).
"""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

pytestmark = pytest.mark.slow

pytest.importorskip("starlette")
openai = pytest.importorskip("openai")
httpx = pytest.importorskip("httpx")

QUESTION = [{"role": "system", "content": "You are a helpful assistant."},
            {"role": "user", "content": "What is the capital of France?"}]


def test_chat_completions_with_logprobs_and_concurrent_streams(llama_context: Any) -> None:
    from lmstream_server import create_app

    app = create_app(llama_context)
    base = "http://lmstream.test"

    async def main() -> tuple[Any, list[str]]:
        http = httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url=base, timeout=120)
        client = openai.AsyncOpenAI(base_url=f"{base}/v1", api_key="unused", http_client=http,
                                    max_retries=0)
        answer = await client.chat.completions.create(
            model=llama_context.info.name, messages=QUESTION, max_tokens=16, logprobs=True,
            top_logprobs=2)

        async def stream() -> str:
            chunks = await client.chat.completions.create(
                model=llama_context.info.name, messages=QUESTION, max_tokens=8, stream=True)
            return "".join([c.choices[0].delta.content or "" async for c in chunks if c.choices])

        texts = await asyncio.gather(stream(), stream(), stream())
        await http.aclose()
        return answer, list(texts)

    answer, texts = asyncio.run(main())
    choice = answer.choices[0]
    assert "Paris" in choice.message.content and choice.finish_reason == "stop"
    first = choice.logprobs.content[0]
    assert first.top_logprobs[0].token == first.token and first.logprob <= 0
    assert texts[0] == texts[1] == texts[2] and choice.message.content.startswith(texts[0])
