"""Property: however turns end (committed, cancelled, failed), the session equals one that ran only
the committed turns: same history, same cache, same reuse on the next turn; for any token cut."""

from __future__ import annotations

from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import lmstream
from lmstream import Info, StopReason
from lmstream.chat import ChatSession
from lmstream.model import common_prefix_length

WORDS = st.text(alphabet="abcdefgh é€", min_size=1, max_size=12).filter(lambda s: s.strip())
TURNS = st.lists(st.tuples(WORDS, st.sampled_from(["ok", "cancel", "fail"]), st.integers(0, 6)),
                 min_size=1, max_size=6)
CUTS = st.sampled_from(["chars", "bytes", "words", 3])


def reply(prompt: str) -> str:
    """Depends only on the conversation; fails on a user turn containing 'boom'."""
    last = prompt.rsplit("<|im_start|>user\n", 1)[-1]
    if last.startswith("boom"):
        raise RuntimeError("boom")
    return f"Turn {prompt.count('<|im_start|>user')} heard {last.split('<|im_end|>')[0][::-1]}!"


def cache_ids(session: ChatSession) -> list[int]:
    return session.context.worker.call(lambda: list(session.cache.tokens))


def assert_same_reuse(session: ChatSession, reference: ChatSession) -> None:
    """The session's cache is a prefix of the reference's, and the next turn reuses as much of it.

    (A rollback can only trim: cache entries the backend already dropped because the rendered
    history diverged from the generated tokens are not restored; no next turn could reuse them.)
    """
    ours, theirs = cache_ids(session), cache_ids(reference)
    assert theirs[:len(ours)] == ours
    probe = list(session.context.prepare(lmstream.UserInput(
        messages=[*session.history, lmstream.ChatMessage(role="user", content="probe")])).tokens)
    assert common_prefix_length(ours, probe) == common_prefix_length(theirs, probe)


def run_turn(session: ChatSession, text: str, kind: str, cancel_after: int) -> Info:
    stream = session.stream_details(("boom " + text) if kind == "fail" else text)
    if kind == "cancel" and cancel_after == 0:
        stream.cancel()
    events: list[Any] = []
    for event in stream:
        events.append(event)
        if kind == "cancel" and len(events) == cancel_after:
            stream.cancel()
    info = events[-1]
    assert isinstance(info, Info)
    return info


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(turns=TURNS, cut=CUTS)
def test_rolled_back_turns_leave_no_trace(chat_model, turns, cut):
    context = chat_model(reply, cut=cut, token_delay=0.0003)  # so that cancels land mid-reply
    session = ChatSession(context, "sys")
    reference = ChatSession(context, "sys")
    for text, kind, cancel_after in turns:
        info = run_turn(session, text, kind, cancel_after)
        if info.stop_reason in (StopReason.STOP, StopReason.LENGTH):
            expected = reference.stream_details(text)
            reference_info = list(expected)[-1]
            assert isinstance(reference_info, Info)
            assert (info.cached_prompt_tokens, info.prompt_tokens) == (
                reference_info.cached_prompt_tokens, reference_info.prompt_tokens)
        else:
            assert info.stop_reason == (StopReason.ERROR if kind == "fail" else StopReason.CANCELLED)
        assert session.history == reference.history
        assert_same_reuse(session, reference)
    # and the next turn is the same for both
    assert session.respond("last") == reference.respond("last")
    assert session.last_info is not None and reference.last_info is not None
    assert session.last_info.cached_prompt_tokens == reference.last_info.cached_prompt_tokens
    rendered = context.render_prompt(session.history)
    assert rendered == context.render_prompt(reference.history)


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(texts=st.lists(WORDS, min_size=1, max_size=4), cut=CUTS)
def test_stream_response_text_is_the_reply_for_any_cut(chat_model, texts, cut):
    context = chat_model(reply, cut=cut)
    session = ChatSession(context)
    for n, text in enumerate(texts, start=1):
        joined = "".join(session.stream_response(text))
        assert joined == f"Turn {n} heard {text[::-1]}!"
        assert session.history[-1].content == joined
    cached = cache_ids(session)
    prompt = list(context.prepare(lmstream.UserInput(messages=session.history[:-1])).tokens)
    assert cached[:len(prompt)] == prompt  # the cache always extends the last prompt
