"""Chunking harness for the tool-call parser tests: feed a text cut in many ways, normalize the
events, and rebuild the input from events plus the parser's silent text (nothing may be lost).

Imported by the test modules as ``toolcall_harness`` (conftest.py puts this folder on sys.path).
"""

from __future__ import annotations

import json
import random
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from itertools import pairwise
from typing import Any

import lmstream
from lmstream import Chunk, RejectedToolCall, ToolCall, ToolCallDelta

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
        deltas: bool = False) -> tuple[list[Any], Any]:
    """Feed ``pieces`` to a fresh parser (streaming argument deltas if asked); (events, parser)."""
    parser = lmstream.get_tool_parser(name, tools)
    if deltas:
        parser.stream_deltas(True)
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


def check_deltas(events: Sequence[Any]) -> list[tuple[Any, ...]]:
    """Check the ToolCallDelta contract; returns each call's (index, name, joined deltas, end).

    Per index: the first delta carries id and name, all share them; deltas come before the
    call's final event (a ToolCall with the same index and id whose arguments the joined text
    loads to exactly, or a RejectedToolCall with the same index); indices count from 0.
    """
    calls: dict[int, list[Any]] = {}
    ended: set[int] = set()
    for event in events:
        if isinstance(event, ToolCallDelta):
            assert event.index not in ended, f"delta after the end of call {event.index}"
            if event.index not in calls:
                assert event.index == len(calls), f"index {event.index} skips a number"
                assert event.id and event.name, "the first delta carries id and name"
                calls[event.index] = [event.id, event.name, ""]
            first = calls[event.index]
            assert (event.id, event.name) == (first[0], first[1]), "id and name never change"
            first[2] += event.arguments_delta
        elif isinstance(event, ToolCall):
            assert event.index in calls, f"ToolCall without deltas: {event!r}"
            assert event.id == calls[event.index][0] and event.name == calls[event.index][1]
            joined = calls[event.index][2]
            assert json.loads(joined) == event.arguments, (
                f"joined deltas {joined!r} do not load to {event.arguments!r}")
            ended.add(event.index)
            calls[event.index].append("call")
        elif isinstance(event, RejectedToolCall) and event.index is not None:
            assert event.index in calls and event.index not in ended
            ended.add(event.index)
            calls[event.index].append("rejected")
    return [(index, c[1], c[2], c[3] if len(c) > 3 else None) for index, c in sorted(calls.items())]


def check_case(name: str, case: Case, deltas: bool = True, **cutting_options: Any) -> None:
    """Every cutting gives the expected segments, and the input can be rebuilt exactly; with
    ``deltas`` also with argument deltas on, which must keep their contract and be the same
    (joined per call) for every cutting."""
    expected = _merge([tuple(s) for s in case.expected])
    streamed: list[tuple[Any, ...]] | None = None
    for pieces in cuttings(case.text, **cutting_options):
        for mode in ((False, True) if deltas else (False,)):
            events, parser = run(name, pieces, case.tools, deltas=mode)
            got = normalize([e for e in events if not isinstance(e, ToolCallDelta)])
            assert _matches(got, expected), (
                f"{name}/{case.id} cut as {pieces!r} (deltas {mode}):\n got      {got!r}\n"
                f" expected {expected!r}")
            assert rebuild(events, parser.silent_text) == case.text, f"{name}/{case.id}: text lost"
            ids = [e.id for e in events if isinstance(e, ToolCall)]
            assert len(set(ids)) == len(ids), f"duplicate ids {ids}"
            for event in events:
                if isinstance(event, ToolCall):
                    assert parser.call_text[event.id], "accepted calls keep their raw text"
            if mode:
                signature = check_deltas(events)
                assert all(e.index is not None for e in events if isinstance(e, ToolCall))
                if streamed is None:
                    streamed = signature
                assert signature == streamed, (
                    f"{name}/{case.id} cut as {pieces!r}: deltas {signature!r} != {streamed!r}")


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
