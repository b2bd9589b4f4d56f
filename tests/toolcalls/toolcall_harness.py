"""Chunking harness for the tool-call parser tests: feed a text cut in many ways, normalize the
events, and rebuild the input from events plus the parser's silent text (nothing may be lost).

Imported by the test modules as ``toolcall_harness`` (conftest.py puts this folder on sys.path).
"""

from __future__ import annotations

import random
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from itertools import pairwise
from typing import Any

import lmstream
from lmstream import Chunk, RejectedToolCall, ToolCall

Segment = tuple[Any, ...]


def content(text: str) -> Segment:
    """Expected content text (adjacent content is merged before comparing)."""
    return ("content", text)


def reasoning(text: str) -> Segment:
    """Expected reasoning text."""
    return ("reasoning", text)


def call(name: str, arguments: dict[str, Any] | None = None) -> Segment:
    """Expected ToolCall (ids are compared separately)."""
    return ("call", name, arguments or {})


def rejected(reason: str, text: str | None = None) -> Segment:
    """Expected RejectedToolCall; ``text`` None: any raw text."""
    return ("rejected", reason, text)


@dataclass(frozen=True)
class Case:
    """One input text and the events it must give however it is cut."""

    id: str
    text: str
    expected: Sequence[Segment]
    tools: Sequence[dict[str, Any]] | None = None


def normalize(events: Sequence[Any]) -> list[Segment]:
    """Events as comparable segments; adjacent chunks of one channel merged; ids dropped."""
    out: list[Segment] = []
    for event in events:
        if isinstance(event, Chunk):
            assert event.text, "empty chunks must not be emitted"
            if out and out[-1][0] == event.channel:
                out[-1] = (event.channel, out[-1][1] + event.text)
            else:
                out.append((event.channel, event.text))
        elif isinstance(event, ToolCall):
            assert isinstance(event.arguments, dict)
            out.append(("call", event.name, event.arguments))
        elif isinstance(event, RejectedToolCall):
            assert event.reason in ("malformed", "incomplete", "undeclared_tool", "invalid_arguments")
            assert event.text and event.detail
            out.append(("rejected", event.reason, event.text))
        else:
            raise AssertionError(f"unexpected event {event!r}")
    return out


def rebuild(events: Sequence[Any], silent: Sequence[tuple[int, str]]) -> str:
    """The input text, from the events in order plus the parser's silent text."""
    pieces: list[str] = []
    silent_iter = iter(silent)
    pending = next(silent_iter, None)
    for index, event in enumerate(events):
        while pending is not None and pending[0] == index:
            pieces.append(pending[1])
            pending = next(silent_iter, None)
        if isinstance(event, (Chunk, RejectedToolCall)):
            pieces.append(event.text)
    while pending is not None:
        assert pending[0] == len(events), f"silent text after the last event: {pending!r}"
        pieces.append(pending[1])
        pending = next(silent_iter, None)
    return "".join(pieces)


def run(name: str, pieces: Sequence[str], tools: Sequence[dict[str, Any]] | None = None,
        ) -> tuple[list[Any], Any]:
    """Feed ``pieces`` to a fresh parser; returns (events, parser)."""
    parser = lmstream.get_tool_parser(name, tools)
    events: list[Any] = []
    for piece in pieces:
        events += parser.feed(piece)
    events += parser.finish()
    return events, parser


def cuttings(text: str, seed: int = 0, random_count: int = 100, every_split: bool = True,
             ) -> Iterator[list[str]]:
    """Whole, one char at a time, every two-way split and random cuttings of ``text``."""
    yield [text]
    yield list(text)
    if every_split:
        for i in range(1, len(text)):
            yield [text[:i], text[i:]]
    rng = random.Random(seed)
    for _ in range(random_count):
        count = rng.randint(1, max(1, min(len(text) - 1, 40)))
        cuts = sorted(rng.sample(range(1, len(text)), min(count, len(text) - 1))) if len(text) > 1 else []
        bounds = [0, *cuts, len(text)]
        yield [text[a:b] for a, b in pairwise(bounds)]


def check_case(name: str, case: Case, **cutting_options: Any) -> None:
    """Every cutting gives the expected segments, and the input can be rebuilt exactly."""
    expected = _merge([tuple(s) for s in case.expected])
    for pieces in cuttings(case.text, **cutting_options):
        events, parser = run(name, pieces, case.tools)
        got = normalize(events)
        assert _matches(got, expected), (
            f"{name}/{case.id} cut as {pieces!r}:\n got      {got!r}\n expected {expected!r}")
        assert rebuild(events, parser.silent_text) == case.text, f"{name}/{case.id}: text lost"
        ids = [e.id for e in events if isinstance(e, ToolCall)]
        assert len(set(ids)) == len(ids), f"duplicate ids {ids}"
        for event in events:
            if isinstance(event, ToolCall):
                assert parser.call_text[event.id], "accepted calls keep their raw text"


def _merge(segments: list[Segment]) -> list[Segment]:
    out: list[Segment] = []
    for seg in segments:
        if seg[0] in ("content", "reasoning") and not seg[1]:
            continue
        if out and seg[0] in ("content", "reasoning") and out[-1][0] == seg[0]:
            out[-1] = (seg[0], out[-1][1] + seg[1])
        else:
            out.append(seg)
    return out


def _matches(got: list[Segment], expected: list[Segment]) -> bool:
    if len(got) != len(expected):
        return False
    for g, e in zip(got, expected, strict=True):
        if e[0] == "rejected":
            if g[0] != "rejected" or g[1] != e[1] or (e[2] is not None and g[2] != e[2]):
                return False
        elif g != e:
            return False
    return True


TOOLS: list[dict[str, Any]] = [
    {"type": "function", "function": {
        "name": "get_weather",
        "description": "Weather forecast for a city.",
        "parameters": {
            "type": "object",
            "properties": {"city": {"type": "string"}, "days": {"type": "integer"}},
            "required": ["city"],
        },
    }},
    {"name": "search", "description": "Web search.", "parameters": {
        "type": "object",
        "properties": {
            "q": {"type": "string"},
            "limit": {"type": "integer"},
            "exact": {"type": "boolean"},
            "filters": {"type": "object"},
            "tags": {"type": "array", "items": {"type": "string"}},
        },
        "required": ["q"],
    }},
]
"""Tools used by the validation cases (one OpenAI-style dict, one plain dict)."""
