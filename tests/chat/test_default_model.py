"""ChatSession on the embedded default model (SmolLM2-135M-Instruct) on every real backend.

Slow: a real model decodes a few tokens per second on a CPU, so replies are kept short.
"""

from __future__ import annotations

from collections.abc import Callable

import pytest

import lmstream
from lmstream.chat import ChatSession

pytestmark = pytest.mark.slow

MAX_TOKENS = 4


@pytest.fixture(scope="module", params=["mlx", "llama_cpp"])
def context(request: pytest.FixtureRequest,
            default_contexts: Callable[[str], lmstream.ModelContext]) -> lmstream.ModelContext:
    """The default model on each real backend installed here (skipped where one is missing)."""
    return default_contexts(request.param)


def fresh_prompt_tokens(context: lmstream.ModelContext, messages: list[lmstream.ChatMessage]) -> int:
    """Tokens a cache-less generation of the same conversation would prefill."""
    return len(context.prepare(lmstream.UserInput(messages=messages)).tokens)


def test_turn_two_prefills_only_the_new_suffix(context):
    session = ChatSession(context, "You are a helpful assistant.", parameters={"max_tokens": MAX_TOKENS})
    session.respond("Name a planet.")
    first = session.last_info
    assert first is not None and first.cached_prompt_tokens == 0

    second_text = "And another one?"
    conversation = [*session.history, lmstream.ChatMessage(role="user", content=second_text)]
    fresh = fresh_prompt_tokens(context, conversation)
    session.respond(second_text)
    second = session.last_info
    assert second is not None and second.stop_reason in ("stop", "length")
    print(f"\nturn 2: prefilled {second.prompt_tokens} tokens, reused {second.cached_prompt_tokens}; "
          f"a fresh prompt of the same conversation prefills {fresh}")
    assert second.prompt_tokens + second.cached_prompt_tokens == fresh
    assert second.cached_prompt_tokens >= first.prompt_tokens  # at least the whole first prompt
    assert second.prompt_tokens < fresh // 2

    # a generation with a fresh cache of its own (no session, no prefix cache) prefills all of it
    from lmstream import generate

    infos = [event for event in generate(lmstream.UserInput(messages=conversation), context=context,
                                         parameters={"max_tokens": 1}, cache=context.new_cache())
             if isinstance(event, lmstream.Info)]
    assert infos[0].prompt_tokens == fresh and infos[0].cached_prompt_tokens == 0


def test_a_cancelled_turn_leaves_the_real_cache_as_it_was(context):
    session = ChatSession(context, parameters={"max_tokens": MAX_TOKENS})
    session.respond("Hi!")
    before = context.worker.call(lambda: list(session.cache.tokens))
    for _ in session.stream_response("Tell me a long story."):
        break
    assert context.worker.call(lambda: list(session.cache.tokens)) == before
    session.respond("What is 2 + 2?")
    info = session.last_info
    assert info is not None and info.cached_prompt_tokens > 0
    assert info.cached_prompt_tokens <= len(before)
    fresh = fresh_prompt_tokens(context, session.history[:-1])
    assert info.prompt_tokens + info.cached_prompt_tokens == fresh


def test_load_recomputes_the_cache(context, tmp_path):
    session = ChatSession(context, parameters={"max_tokens": MAX_TOKENS})
    session.respond("Hello!")
    session.save(tmp_path / "chat.json")
    restored = ChatSession.load(tmp_path / "chat.json", context)
    assert context.worker.call(lambda: list(restored.cache.tokens)) == context.worker.call(
        lambda: list(session.cache.tokens))
    restored.respond("How are you?")
    info = restored.last_info
    assert info is not None and info.cached_prompt_tokens > 0
