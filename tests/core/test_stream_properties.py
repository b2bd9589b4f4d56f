"""Property tests: however the backend cuts its output into tokens, the stream is the same."""

from __future__ import annotations

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import lmstream
from lmstream import Chunk, StopReason

ALPHABET = st.sampled_from(list("ab <>/|ENDé日🙂\n"))
TEXT = st.text(ALPHABET, min_size=0, max_size=40)
STOPS = st.lists(st.text(st.sampled_from(list("ab|END日")), min_size=1, max_size=4), max_size=3)
SETTINGS = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])


def _cuts(data: bytes, draw_offsets: list[int]) -> list[int]:
    return sorted({o for o in draw_offsets if 0 < o < len(data)})


def _expected(reply: str, stops: list[str]) -> tuple[str, bool]:
    """Reference semantics: text up to the stop string that completes first (ties: starts first)."""
    hits = [(reply.find(s) + len(s), reply.find(s)) for s in stops if s in reply]
    if hits:
        return reply[: min(hits)[1]], True
    return reply, False


def _stream(context, stops):
    events = list(lmstream.generate("p", context=context,
                                    parameters={"stop": stops, "max_tokens": None, "reasoning_markers": None}))
    return events


@SETTINGS
@given(reply=TEXT, stops=STOPS, offsets=st.lists(st.integers(0, 200), max_size=30))
def test_any_cutting_gives_the_same_text_and_never_leaks_a_stop_string(scripted, reply, stops, offsets):
    data = reply.encode()
    cut = _cuts(data, offsets) or "bytes"
    if not data:
        cut = "chars"
    context = scripted(reply, cut=cut)
    events = _stream(context, stops)
    text = "".join(e.text for e in events if isinstance(e, Chunk))
    expected, _hit = _expected(reply, stops)
    assert text == expected
    for stop in stops:
        assert stop not in text
    assert events[-1].stop_reason == StopReason.STOP
    assert all("\ufffd" not in e.text for e in events if isinstance(e, Chunk))
    context.close()


@SETTINGS
@given(reply=TEXT, offsets=st.lists(st.integers(0, 200), max_size=30))
def test_reasoning_split_is_chunking_invariant(scripted, reply, offsets):
    full = f"<think>{reply}</think>{reply}"
    data = full.encode()
    context = scripted(full, cut=_cuts(data, offsets) or "chars")
    events = list(lmstream.generate("p", context=context, parameters={"max_tokens": None}))
    content = "".join(e.text for e in events if isinstance(e, Chunk) and e.channel == "content")
    reasoning = "".join(e.text for e in events if isinstance(e, Chunk) and e.channel == "reasoning")
    whole = scripted(full, cut=lambda r: [r])
    events_whole = list(lmstream.generate("p", context=whole, parameters={"max_tokens": None}))
    assert content == "".join(e.text for e in events_whole if isinstance(e, Chunk) and e.channel == "content")
    assert reasoning == "".join(e.text for e in events_whole if isinstance(e, Chunk) and e.channel == "reasoning")
    # The alphabet cannot spell a marker, so the split is exact.
    assert (content, reasoning) == (reply, reply)
    context.close()
    whole.close()


@SETTINGS
@given(reply=st.text(min_size=1, max_size=30))
def test_positions_and_tokens_account_for_every_generated_token(scripted, reply):
    context = scripted(reply, cut="bytes")
    events = list(lmstream.generate("p", context=context, parameters={"max_tokens": None, "reasoning_markers": None}))
    chunks = [e for e in events if isinstance(e, Chunk)]
    assert "".join(c.text for c in chunks) == reply
    ids = [t for c in chunks for t in c.tokens]
    assert len(ids) == len(reply.encode())
    positions = [c.position for c in chunks]
    assert positions == sorted(positions)
    context.close()
