"""Property: texts made of content, reasoning blocks holding calls, real calls, prose naming the
start marker and a call cut off at the end give, in every format, the same events however they
are cut (argument deltas on and off), lose no character, and make exactly the real calls."""

from __future__ import annotations

from itertools import pairwise

from format_samples import FORMATS, sample
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from toolcall_harness import check_deltas, normalize, rebuild, run

from lmstream import ToolCall, ToolCallDelta

PROSE = st.sampled_from(["Sure. ", "ok\n", "a < b ", "[x] ", "{y} ", "f(z) ", "see: "])
BLOCKS = [("<think>", "</think>"), ("<seed:think>", "</seed:think>")]
FAMILY = {"mistral": [("[THINK]", "[/THINK]")], "kimi_k2": [("◁think▷", "◁/think▷")]}


@st.composite
def pieces(draw: st.DrawFn, fmt: str) -> tuple[list[str], list[str]]:
    """(text pieces, cities of the real calls)."""
    out: list[str] = []
    cities: list[str] = []
    for _ in range(draw(st.integers(1, 4))):
        kind = draw(st.sampled_from(["prose", "think", "call"]))
        if kind == "prose":
            out.append(draw(PROSE))
        elif kind == "think":
            opening, closing = draw(st.sampled_from(BLOCKS + FAMILY.get(fmt, [])))
            out.append(f"{opening}plan {sample(fmt, 'Oslo')}{closing} ")
        else:
            city = draw(st.sampled_from(["Paris", "Rome", "Lima"]))
            out += [sample(fmt, city), " "]
            cities.append(city)
    return out, cities


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(fmt=st.sampled_from(FORMATS), data=st.data())
def test_class_mix_however_cut(fmt: str, data: st.DataObject) -> None:
    parts, cities = data.draw(pieces(fmt))
    text = "".join(parts)
    if data.draw(st.booleans()):  # cut off inside one more call
        extra = sample(fmt, "Kyiv")
        text += extra[:data.draw(st.integers(1, len(extra) - 1))]
    whole, _ = run(fmt, [text])
    made = [e.arguments.get("city") for e in whole if isinstance(e, ToolCall)]
    assert made[:len(cities)] == cities and len(made) <= len(cities) + 1, normalize(whole)
    cuts = sorted(data.draw(st.sets(st.integers(1, max(1, len(text) - 1)), max_size=15)))
    cut_pieces = [text[a:b] for a, b in pairwise([0, *[c for c in cuts if c < len(text)],
                                                  len(text)])]
    expected = normalize(whole)
    signature = None
    for deltas in (False, True):
        events, parser = run(fmt, cut_pieces, deltas=deltas)
        assert rebuild(events, parser.silent_text) == text
        assert normalize([e for e in events if not isinstance(e, ToolCallDelta)]) == expected
        if deltas:
            signature = check_deltas(events)
    whole_deltas, _ = run(fmt, [text], deltas=True)
    assert check_deltas(whole_deltas) == signature
