"""``Info.stop_sequence``: which stop string ended the text (the Anthropic API reports it)."""

from __future__ import annotations

from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import lmstream
from lmstream import Chunk, Info, StopReason

ALPHABET = st.sampled_from(list("ab |END日🙂\n"))
STOPS = st.lists(st.text(st.sampled_from(list("ab|END日")), min_size=1, max_size=4), min_size=1, max_size=4)
SETTINGS = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])


def _run(context: lmstream.ModelContext, **params: Any) -> tuple[str, Info]:
    events = list(lmstream.generate("p", context=context, parameters={"reasoning_markers": None, **params}))
    info = events[-1]
    assert isinstance(info, Info)
    return "".join(e.text for e in events if isinstance(e, Chunk)), info


def test_matched_stop_string_is_reported(scripted: Any) -> None:
    text, info = _run(scripted("Hello END world", cut="chars"), stop=["nope", "END"])
    assert (text, info.stop_reason, info.stop_sequence) == ("Hello ", StopReason.STOP, "END")


def test_eos_has_no_stop_sequence(scripted: Any) -> None:
    text, info = _run(scripted("Hello world"), stop=["END"])
    assert (text, info.stop_reason, info.stop_sequence) == ("Hello world", StopReason.STOP, None)


def test_length_has_no_stop_sequence(scripted: Any) -> None:
    _, info = _run(scripted("abcdefgh", repeat=True), stop=["zz"], max_tokens=3)
    assert (info.stop_reason, info.stop_sequence) == (StopReason.LENGTH, None)


def test_stop_string_split_across_tokens(scripted: Any) -> None:
    for cut in ("chars", "bytes", 2, 3):
        text, info = _run(scripted("say 日E|ND now", cut=cut), stop=["E|ND"])
        assert (text, info.stop_sequence) == ("say 日", "E|ND"), cut


def test_no_stops_asked_is_none(scripted: Any) -> None:
    _, info = _run(scripted("abc"))
    assert info.stop_sequence is None


def test_info_keeps_its_positional_order() -> None:
    info = Info(StopReason.STOP, lmstream.GenerationStats(), None, "END")
    assert (info.stop_reason, info.error, info.stop_sequence) == (StopReason.STOP, None, "END")
    assert Info(StopReason.STOP).stop_sequence is None


def _expected(reply: str, stops: list[str]) -> str | None:
    """Reference: the stop string that completes first (ties: the one that starts first)."""
    hits = sorted((reply.find(s) + len(s), reply.find(s), s) for s in stops if s in reply)
    return hits[0][2] if hits else None


@SETTINGS
@given(reply=st.text(ALPHABET, max_size=30), stops=STOPS, offsets=st.lists(st.integers(0, 120), max_size=20))
def test_any_cutting_reports_the_stop_string_that_ended_the_text(
        scripted: Any, reply: str, stops: list[str], offsets: list[int]) -> None:
    data = reply.encode()
    cut: Any = sorted({o for o in offsets if 0 < o < len(data)}) or ("bytes" if data else "chars")
    context = scripted(reply, cut=cut)
    _, info = _run(context, stop=stops, max_tokens=None)
    expected = _expected(reply, stops)
    if expected is not None:  # equal-ranked hits are the same string or equally valid: compare the rank
        assert info.stop_sequence is not None
        assert (reply.find(info.stop_sequence) + len(info.stop_sequence), reply.find(info.stop_sequence)) \
            == (reply.find(expected) + len(expected), reply.find(expected))
    else:
        assert info.stop_sequence is None
    assert info.stop_reason == StopReason.STOP
    context.close()
