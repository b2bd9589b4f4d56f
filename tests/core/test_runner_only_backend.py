"""One protocol suite, two backends: the scripted backend (runner and token iterator) and the
third-party ``rows`` backend (tests/plugins/runner_backend), which implements only the
``BatchRunner`` contract. The same checks run against both: every generation API with its
stop reasons, ChatSession turns, structured output (the runner applies the constraint's
masks) and the server's chat completions, streamed and not.
"""

from __future__ import annotations

import asyncio
import json
import threading
from collections.abc import Callable, Iterator
from typing import Any

import pytest

import lmstream
from lmstream import Chunk, Info, ModelInfo, PromptCache, Token
from lmstream.backend import BackendModel
from lmstream.model import check_backend

pytest.importorskip("lmstream_rows", reason="pip install -e tests/plugins/runner_backend")

REPLY = "Hello from the model, row by row."
Load = Callable[..., lmstream.ModelContext]
ONE_ROW: dict[Load, bool] = {}
"""Whether a ``load`` fixture loads with ``batching=False``."""


@pytest.fixture(params=["scripted", "rows", "rows-one-row"])
def load(request: pytest.FixtureRequest) -> Iterator[Load]:
    """``load(reply=..., **options)`` on the backend under test (closed after the test);
    ``rows-one-row`` is the runner-only backend loaded with ``batching=False``."""
    contexts: list[lmstream.ModelContext] = []
    backend = "rows" if request.param.startswith("rows") else "scripted"
    extra = {"batching": False} if request.param == "rows-one-row" else {}

    def make(reply: str = REPLY, **options: Any) -> lmstream.ModelContext:
        context = lmstream.load(backend=backend, reply=reply, **extra, **options)
        contexts.append(context)
        return context

    ONE_ROW[make] = bool(extra)
    yield make
    ONE_ROW.pop(make)
    for context in contexts:
        context.close()


def test_the_rows_backend_has_no_token_iterator(load: Load) -> None:
    context = load()
    model = context.backend_model
    assert model.has_batch_runner()
    if model.info.backend == "rows":
        assert not model.has_token_iterator()
        assert context.scheduler.batching  # the runner, even with batching=False (one row)
        assert (context.scheduler.max_batch_size == 1) == ONE_ROW[load]


def test_generate_events_and_stop(load: Load) -> None:
    events = list(lmstream.generate("hi", context=load()))
    assert isinstance(events[-1], Info) and events[-1].stop_reason == "stop"
    assert all(isinstance(e, Chunk) for e in events[:-1])
    assert "".join(e.text for e in events[:-1]) == REPLY
    assert events[-1].stats.generated_tokens == len(REPLY) + 1  # the reply and the end token


def test_max_tokens_ends_with_length(load: Load) -> None:
    result = load().generate("hi", max_tokens=5)
    assert result.stop_reason == "length" and result.text == REPLY[:5]


def test_a_stop_string_ends_with_stop_and_is_not_emitted(load: Load) -> None:
    result = load().generate("hi", stop=["model"])
    assert result.stop_reason == "stop" and result.text == "Hello from the "


def test_cancel_mid_decode_ends_with_cancelled(load: Load) -> None:
    context = load(reply="x" * 500, token_delay=0.01)
    stream, task = lmstream.generate_task("hi", context=context)
    seen = 0
    for event in stream:
        if isinstance(event, Chunk):
            seen += 1
            if seen == 2:
                task.cancel()
    info = event
    assert isinstance(info, Info) and info.stop_reason == "cancelled"
    assert info.stats.generated_tokens < 500


def test_a_failing_step_ends_with_error_and_the_context_goes_on(load: Load) -> None:
    context = load(fail_at=3)
    events = list(lmstream.generate("hi", context=context))
    info = events[-1]
    assert isinstance(info, Info) and info.stop_reason == "error" and info.error is not None
    assert "".join(e.text for e in events if isinstance(e, Chunk)) == REPLY[:3]


def test_token_streams_and_their_tasks(load: Load) -> None:
    context = load()
    expected = context.tokenizer.encode(REPLY, add_special_tokens=False)
    tokens = [e for e in lmstream.generate_tokens("hi", context=context) if isinstance(e, Token)]
    assert [t.id for t in tokens] == expected
    stream, task = lmstream.generate_tokens_task("hi", context=context, parameters={"max_tokens": 4})
    events = list(stream)
    assert [e.id for e in events if isinstance(e, Token)] == expected[:4]
    assert task.info is not None and task.info.stop_reason == "length"


def test_logprobs_come_from_the_runner(load: Load) -> None:
    context = load()
    tokens = [e for e in lmstream.generate_tokens("hi", context=context,
                                                  parameters={"logprobs": True, "top_logprobs": 2,
                                                              "max_tokens": 3})
              if isinstance(e, Token)]
    assert len(tokens) == 3
    for token in tokens:
        assert token.logprob is not None and token.logprob <= 0.0
        assert token.top_logprobs and token.top_logprobs[0][0] == token.id


def test_a_user_iterator_runs_beside_the_backend(load: Load) -> None:
    context = load()
    stream, task = lmstream.generate_token_task(prompt_token_count=1, context=context,
                                                iterator=iter([72, 105]))
    assert [e.id for e in stream if isinstance(e, Token)] == [72, 105]
    assert task.info is not None and task.info.stop_reason == "stop"


def test_concurrent_streams_are_independent(load: Load) -> None:
    context = load(token_delay=0.001)
    results: dict[int, str] = {}

    def run(i: int) -> None:
        results[i] = context.generate(f"prompt {i}", max_tokens=10 + i).text

    threads = [threading.Thread(target=run, args=(i,)) for i in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert results == {i: REPLY[:10 + i] for i in range(4)}


def test_chat_session_turns_reuse_the_cache(load: Load) -> None:
    session = lmstream.ChatSession(load())
    assert session.respond("first") == REPLY
    events = list(session.stream_details("second"))
    info = events[-1]
    assert isinstance(info, Info) and info.stop_reason == "stop"
    assert "".join(e.text for e in events if isinstance(e, Chunk)) == REPLY
    assert info.stats.cached_prompt_tokens > 0
    assert [m.role for m in session.history] == ["user", "assistant", "user", "assistant"]


SCHEMA = {"type": "object", "properties": {"name": {"type": "string"}}, "required": ["name"],
          "additionalProperties": False}


def test_structured_output_masks_the_runner(load: Load) -> None:
    pytest.importorskip("llguidance")
    context = load(reply='Sure! {"name": "Ada"} is it')
    result = context.generate(messages=[{"role": "user", "content": "who?"}], max_tokens=60,
                              response_format={"type": "json_schema",
                                               "json_schema": {"name": "person", "schema": SCHEMA}})
    assert result.stop_reason == "stop"
    assert json.loads(result.text) == {"name": "Ada"}  # the prose around it was masked away


def test_the_server_streams_and_answers(load: Load) -> None:
    pytest.importorskip("starlette")
    httpx = pytest.importorskip("httpx")
    from lmstream_server import create_app

    app = create_app(load())
    body = {"model": "m", "messages": [{"role": "user", "content": "hi"}]}

    async def talk() -> tuple[Any, str]:
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://lmstream.test", timeout=30) as http:
            plain = await http.post("/v1/chat/completions", json=body)
            streamed = await http.post("/v1/chat/completions", json={**body, "stream": True})
            return plain, streamed.text

    plain, raw = asyncio.run(talk())
    assert plain.status_code == 200, plain.text
    choice = plain.json()["choices"][0]
    assert choice["message"]["content"] == REPLY and choice["finish_reason"] == "stop"
    chunks = [json.loads(line[6:]) for line in raw.splitlines()
              if line.startswith("data: ") and line != "data: [DONE]"]
    text = "".join(c["choices"][0]["delta"].get("content") or "" for c in chunks if c["choices"])
    finishes = [c["choices"][0]["finish_reason"] for c in chunks if c["choices"]]
    assert text == REPLY and finishes[-1] == "stop"


class _Neither(BackendModel):
    """A backend that implements neither contract."""

    def __init__(self) -> None:
        self.info = ModelInfo(name="neither", backend="neither")

    def new_cache(self) -> PromptCache:
        return lmstream.ListPromptCache()


def test_a_backend_with_neither_contract_is_refused_at_load() -> None:
    with pytest.raises(TypeError, match="neither new_batch_runner"):
        check_backend(_Neither())

    class Plugin:
        @lmstream.hookimpl
        def lmstream_register_backends(self, register: Callable[[str, Any], None]) -> None:
            register("neither", lambda model=None: _Neither())

    system = lmstream.get_plugin_system()
    system.register(Plugin(), name="neither-plugin")
    try:
        with pytest.raises(TypeError, match="neither new_batch_runner"):
            lmstream.load(backend="neither")
    finally:
        system.unregister(name="neither-plugin")


def test_constraints_without_a_vocabulary_size_are_refused_at_load() -> None:
    class NoVocab(_Neither):
        supports_constraints = True

        def new_batch_runner(self) -> Any:
            raise AssertionError("not reached")

    with pytest.raises(TypeError, match="vocab_size"):
        check_backend(NoVocab())
