"""Whitespace-only text at a call boundary is not content: between parallel calls, after the
last call, or alone before the first; real text before or after the calls keeps every
character, and nothing is lost (the dropped whitespace is the parser's silent text)."""

from __future__ import annotations

from typing import Any

from format_samples import sample
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from toolcall_harness import TOOLS, call, content, normalize, rebuild, run

import lmstream
from lmstream import ToolCallDelta

PARALLEL = ("json", "qwen3_coder", "seed_oss", "glm45", "glm47", "minimax_m2", "gemma4",
            "function_gemma", "lfm2", "deepseek_v31", "kimi_k2")
"""Formats whose parallel calls are separate marked blocks (text may sit between them)."""
SPACE = st.text(st.sampled_from([" ", "\n", "\t"]), max_size=3)
CITIES = st.lists(st.sampled_from(["Paris", "Rome", "Oslo"]), min_size=1, max_size=3)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(fmt=st.sampled_from(PARALLEL), lead=st.one_of(SPACE, st.sampled_from(["Sure. ", "On it.\n", "Hi"])),
       cities=CITIES, gaps=st.lists(SPACE, min_size=2, max_size=2), tail=SPACE,
       after=st.sampled_from(["", "Done.", "ok \n"]), cuts=st.lists(st.integers(1, 400), max_size=12),
       deltas=st.booleans())
def test_whitespace_at_call_boundaries_is_never_content(
        fmt: str, lead: str, cities: list[str], gaps: list[str], tail: str, after: str,
        cuts: list[int], deltas: bool) -> None:
    calls = [sample(fmt, city) for city in cities]
    text = lead + "".join(c + (gaps[i] if i < len(calls) - 1 else "") for i, c in enumerate(calls[:2])) \
        + "".join(gaps[-1] + c for c in calls[2:]) + tail + after
    bounds = sorted({c for c in cuts if c < len(text)})
    pieces = [text[a:b] for a, b in zip([0, *bounds], [*bounds, len(text)], strict=True)]
    events, parser = run(fmt, pieces, TOOLS, deltas=deltas)
    expected = ([content(lead)] if lead.strip() else []) + [call("get_weather", {"city": c}) for c in cities] \
        + ([content(tail + after)] if after.strip() else [])
    assert normalize([e for e in events if not isinstance(e, ToolCallDelta)]) == expected, (fmt, pieces)
    assert rebuild(events, parser.silent_text) == text


def _content(reply: str, **options: Any) -> str:
    context = lmstream.load(backend="scripted", reply=reply, cut="chars")
    try:
        result = context.generate("hi", tools=TOOLS, tool_parser="json", **options)
    finally:
        context.close()
    return result.text


def test_a_reply_of_only_whitespace_stays_content() -> None:
    assert _content(" \n ") == " \n "
    assert _content("\n\nAnswer.") == "\n\nAnswer."


def test_generate_drops_the_newline_between_calls() -> None:
    two = sample("json", "Paris") + "\n" + sample("json", "Rome") + "\n"
    assert _content(two) == ""
    # text before and after the calls keeps its whitespace
    assert _content("Checking.\n" + two + "\nBoth done.") == "Checking.\n\n\nBoth done."
