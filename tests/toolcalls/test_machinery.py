"""The shared machinery on made-up formats: marker priority, nested markers, patterns,
quote-aware end search, and a parser bug turning into a rejection instead of an exception."""

from __future__ import annotations

import pytest
from toolcall_harness import cuttings, normalize, rebuild

from lmstream_toolcalls import (
    IDENT,
    PYTHON_QUOTES,
    WS,
    Balanced,
    CallSyntaxError,
    Delimited,
    Format,
    ParsedCall,
    Pattern,
    Rule,
    inner,
)
from lmstream_toolcalls.matching import StartTable


def named(start: str, end: str):  # type: ignore[no-untyped-def]
    def parse(text, tools):  # type: ignore[no-untyped-def]
        body = inner(text, start, end)
        if not body.isidentifier():
            raise CallSyntaxError(f"bad name {body!r}")
        return [ParsedCall(body, {"marker": start})]

    return parse


def check(fmt: Format, text: str, expected: list[tuple]) -> None:  # type: ignore[type-arg]
    for pieces in cuttings(text, random_count=40):
        parser = fmt.parser()
        events = [e for p in pieces for e in parser.feed(p)] + parser.finish()
        assert normalize(events) == expected, pieces
        assert rebuild(events, parser.silent_text) == text


def test_a_marker_inside_another_markers_prefix_waits_for_the_longer_one() -> None:
    fmt = Format("nested", [
        Rule("ab<xy>", Delimited(["</>"]), named("ab<xy>", "</>")),
        Rule("<x", Delimited(["/>"]), named("<x", "/>")),
    ])
    assert fmt.table.nested
    check(fmt, "1 ab<xy>f</> 2 ab<xg/> 3", [
        ("content", "1 "), ("call", "f", {"marker": "ab<xy>"}), ("content", " 2 ab"),
        ("call", "g", {"marker": "<x"}), ("content", " 3")])


def test_earlier_rules_win_at_the_same_position() -> None:
    fmt = Format("priority", [
        Rule("<tool_call_x>", Delimited(["</x>"]), named("<tool_call_x>", "</x>")),
        Rule("<tool_call", Delimited([">>"]), named("<tool_call", ">>")),
    ])
    check(fmt, "<tool_call_x>a</x><tool_callb>>", [
        ("call", "a", {"marker": "<tool_call_x>"}), ("call", "b", {"marker": "<tool_call"})])


def test_patterns_hold_whitespace_and_identifiers() -> None:
    table = StartTable([Pattern("[", WS, IDENT, "(")])
    assert table.search("x [ foo.bar(") is not None
    assert table.partial_search("x [  foo") is not None
    assert table.partial_search("x [  foo ") is None
    with pytest.raises(ValueError, match="literal"):
        Pattern(WS, "x")


def test_python_quotes_and_brackets() -> None:
    fmt = Format("py", [Rule(Pattern("[", IDENT, "("), Balanced(
        first="[", brackets="()[]{}", quotes=PYTHON_QUOTES, escape="\\", opens="start"),
        lambda text, tools: [ParsedCall("list", {"text": text})])])
    text = "see [f('''a ] ''', \"]\", '\\'', b=[1, (2)])] end"
    region = text[4:text.index(" end")]
    check(fmt, text, [("content", "see "), ("call", "list", {"text": region}),
                      ("content", " end")])


def test_a_parse_bug_becomes_a_rejection() -> None:
    def broken(text, tools):  # type: ignore[no-untyped-def]
        raise KeyError("oops")

    fmt = Format("broken", [Rule("<<", Delimited([">>"]), broken)])
    parser = fmt.parser()
    events = parser.feed("a<<b>>c") + parser.finish()
    assert normalize(events) == [("content", "a"), ("rejected", "malformed", "<<b>>"),
                                 ("content", "c")]
    assert "KeyError" in events[1].detail


def test_a_rule_needs_parse_or_handle() -> None:
    with pytest.raises(ValueError, match="exactly one"):
        Rule("<<", Delimited([">>"]))
