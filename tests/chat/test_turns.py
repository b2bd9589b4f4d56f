"""ChatSession turns on the scripted backend: history, rendering and KV-cache reuse between turns."""

from __future__ import annotations

from typing import Any

import pytest

import lmstream
from lmstream import ChatMessage, Chunk, Info, StopReason
from lmstream.chat import ChatSession


def prompt_ids(context: lmstream.ModelContext, messages: list[Any]) -> list[int]:
    """The ids of the conversation rendered with the generation prompt, as a turn sends them."""
    return list(context.prepare(lmstream.UserInput(messages=messages)).tokens)


def roles(session: ChatSession) -> list[str]:
    return [m.role for m in session.history]


def test_three_turns_reuse_the_prompt_cache(chat_model):
    context = chat_model(["Hi Ada.", "I am fine.", "Goodbye!"])
    session = ChatSession(context, instructions="Be brief.")
    system = {"role": "system", "content": "Be brief."}

    p1 = prompt_ids(context, [system, {"role": "user", "content": "Hello, I am Ada"}])
    assert session.respond("Hello, I am Ada") == "Hi Ada."
    info1 = session.last_info
    assert info1 is not None and info1.stop_reason == StopReason.STOP
    assert (info1.prompt_tokens, info1.cached_prompt_tokens) == (len(p1), 0)

    history = [system, {"role": "user", "content": "Hello, I am Ada"}, {"role": "assistant", "content": "Hi Ada."},
               {"role": "user", "content": "How are you?"}]
    p2 = prompt_ids(context, history)
    assert session.respond("How are you?") == "I am fine."
    info2 = session.last_info
    assert info2 is not None
    # everything up to the end of the first reply was in the cache (the reply's 7 chars included)
    assert info2.cached_prompt_tokens == len(p1) + len("Hi Ada.")
    assert info2.prompt_tokens == len(p2) - info2.cached_prompt_tokens

    history += [{"role": "assistant", "content": "I am fine."}, {"role": "user", "content": "Bye"}]
    p3 = prompt_ids(context, history)
    assert session.respond("Bye") == "Goodbye!"
    info3 = session.last_info
    assert info3 is not None
    assert info3.cached_prompt_tokens == len(p2) + len("I am fine.")
    assert info3.prompt_tokens == len(p3) - info3.cached_prompt_tokens
    assert info3.prompt_tokens < len(p3) // 3

    assert roles(session) == ["system", "user", "assistant", "user", "assistant", "user", "assistant"]
    assert [m.content for m in session.history][-1] == "Goodbye!"
    # the cache holds the last prompt and the reply (the stop token is never fed back)
    assert context.worker.call(lambda: list(session.cache.tokens)) == p3 + list(b"Goodbye!")


def test_divergent_tokenization_is_trimmed_to_the_common_prefix(chat_model):
    # cut="words" makes generated ids differ from how the rendered history re-encodes the reply,
    # so the cache diverges right after the first generation prompt
    context = chat_model("one two three", cut="words")
    session = ChatSession(context)
    p1 = prompt_ids(context, [{"role": "user", "content": "hi"}])
    session.respond("hi")
    session.respond("again")
    info = session.last_info
    assert info is not None
    assert info.cached_prompt_tokens == len(p1)
    cached = context.worker.call(lambda: list(session.cache.tokens))
    p2 = prompt_ids(context, [{"role": "user", "content": "hi"}, {"role": "assistant", "content": "one two three"},
                              {"role": "user", "content": "again"}])
    assert cached[:len(p2)] == p2


def test_stream_response_yields_content_deltas_only(chat_model):
    context = chat_model("<think>hmm</think>The answer.")
    session = ChatSession(context)
    deltas = list(session.stream_response("q"))
    assert all(isinstance(d, str) for d in deltas)
    assert "".join(deltas) == "The answer."
    assert len(deltas) == len("The answer.")  # one per scripted token (cut="chars")
    last = session.history[-1]
    assert (last.role, last.content, last.reasoning_content) == ("assistant", "The answer.", "hmm")


def test_stream_details_ends_with_exactly_one_info(chat_model):
    context = chat_model("<think>a</think>bc")
    session = ChatSession(context)
    stream = session.stream_details("q")
    events = list(stream)
    assert [type(e) for e in events].count(Info) == 1 and isinstance(events[-1], Info)
    chunks = [e for e in events if isinstance(e, Chunk)]
    assert "".join(c.text for c in chunks if c.channel == "content") == "bc"
    assert "".join(c.text for c in chunks if c.channel == "reasoning") == "a"
    assert stream.info is events[-1] and stream.infos == [events[-1]] and stream.text == "bc"
    assert list(stream) == []  # a finished stream stays finished


def test_length_stop_commits_the_partial_answer(chat_model):
    context = chat_model("abcdefgh")
    session = ChatSession(context, parameters={"max_tokens": 3})
    assert session.respond("q") == "abc"
    assert session.last_info is not None and session.last_info.stop_reason == StopReason.LENGTH
    assert session.history[-1].content == "abc"
    # a turn may override the session's parameters
    assert session.respond("more", parameters={"max_tokens": 5}) == "abcde"
    assert session.respond("all", parameters=lmstream.GenerationParameters(max_tokens=50)) == "abcdefgh"
    assert session.parameters.max_tokens == 3


def test_clear_keeps_the_instructions_and_empties_the_cache(chat_model):
    context = chat_model("ok")
    session = ChatSession(context, "sys")
    session.respond("one")
    session.clear()
    assert [(m.role, m.content) for m in session.history] == [("system", "sys")]
    assert context.worker.call(lambda: len(session.cache.tokens)) == 0
    session.respond("two")
    assert session.last_info is not None and session.last_info.cached_prompt_tokens == 0


def test_history_is_a_copy_and_initial_history_is_used(chat_model):
    context = chat_model(lambda prompt: "yes" if "earlier" in prompt else "no")
    session = ChatSession(context, history=[{"role": "user", "content": "earlier"},
                                            ChatMessage(role="assistant", content="noted")])
    session.history.clear()
    assert len(session.history) == 2
    assert session.respond("now?") == "yes"
    assert roles(session) == ["user", "assistant", "user", "assistant"]


def test_respond_none_continues_after_a_user_message(chat_model):
    context = chat_model("sure")
    session = ChatSession(context, history=[{"role": "user", "content": "go"}])
    assert session.respond(None) == "sure"
    with pytest.raises(ValueError, match="continues after a user or tool message"):
        session.respond(None)


@pytest.mark.parametrize(("text", "error", "match"), [
    ("", ValueError, "text is empty"),
    ("   ", ValueError, "text is empty"),
    (42, TypeError, "text must be a string"),
])
def test_bad_text_is_refused(chat_model, text, error, match):
    session = ChatSession(chat_model())
    with pytest.raises(error, match=match):
        session.respond(text)
    assert session.history == []


@pytest.mark.parametrize(("kwargs", "match"), [
    ({"max_tool_rounds": -1}, "max_tool_rounds"),
    ({"parameters": {"max_tokens": -3}}, "max_tokens"),
    ({"parameters": {"bogus": 1}}, "bogus"),
    ({"instructions": "a", "history": [{"role": "system", "content": "b"}]}, "not both"),
    ({"template_options": {"nope": True}}, "nope"),
])
def test_bad_session_options_are_refused(chat_model, kwargs, match):
    with pytest.raises((ValueError, TypeError), match=match):
        ChatSession(chat_model(), **kwargs)


def test_context_must_be_a_model_context():
    with pytest.raises(TypeError, match="ModelContext"):
        ChatSession("scripted")  # type: ignore[arg-type]


def test_a_model_without_template_raises_a_template_error(chat_model):
    context = chat_model(model_chat_template=None)
    session = ChatSession(context)
    if context.has_chat_template():
        pytest.skip("a plugin resolves a template for every model")
    with pytest.raises(lmstream.TemplateError):
        session.respond("hi")
    assert session.history == []


def test_a_prompt_longer_than_the_context_raises_and_rolls_back(chat_model):
    context = chat_model(context_length=64)
    session = ChatSession(context)
    with pytest.raises(lmstream.ContextLengthError):
        session.respond("x" * 100)
    assert session.history == []
    assert session.respond("short") == "Hello there."


def test_template_options_reach_the_template(chat_model):
    template = ("{% for m in messages %}[{{ m.role }}:{{ m.content }}]{% endfor %}"
                "{% if add_generation_prompt %}<{{ flavour }}>{% endif %}")
    seen: list[str] = []
    context = chat_model(lambda prompt: seen.append(prompt) or "ok", model_chat_template=template)
    session = ChatSession(context, template_options={"extra_context": {"flavour": "mint"},
                                                     "add_generation_prompt": False})
    session.respond("hi")
    assert seen == ["[user:hi]<mint>"]  # the generation prompt is always on
