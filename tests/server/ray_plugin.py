"""Plugins and replies loaded inside Ray replicas by tests/server/test_ray.py (importable there
through PYTHONPATH): a streaming tool-call parser and an observer recording generation ends."""

from __future__ import annotations

import json
import os
from typing import Any

import lmstream

SECTION_REPLY = 'Sure.§{"city": "Paris", "days": 3}'
LONG_WORD = "word "
ENDS_ENV = "LMSTREAM_TEST_ENDS"


def reply_for(prompt: str) -> str:
    """A long reply (for disconnects and replica deaths) when the prompt asks for it, else the section reply."""
    return LONG_WORD * 2000 if "long" in prompt else SECTION_REPLY


class SectionParser:
    """Text before ``§`` is content; after it, get_weather's argument JSON streamed as deltas."""

    def __init__(self, tools: Any) -> None:
        self.in_call = False
        self.arguments: list[str] = []

    def feed(self, text: str) -> list[Any]:
        events: list[Any] = []
        if not self.in_call:
            head, mark, text = text.partition("§")
            if head:
                events.append(lmstream.Chunk(head))
            if not mark:
                return events
            self.in_call = True
            events.append(lmstream.ToolCallDelta(0, "call_s1", "get_weather", ""))
        if text:
            self.arguments.append(text)
            events.append(lmstream.ToolCallDelta(0, "call_s1", "get_weather", text))
        return events

    def finish(self) -> list[Any]:
        if not self.in_call:
            return []
        text = "".join(self.arguments)
        try:
            return [lmstream.ToolCall("call_s1", "get_weather", json.loads(text))]
        except ValueError:
            return [lmstream.RejectedToolCall("§" + text, "incomplete", "the arguments never closed")]


class TestPlugin:
    """Registers the section parser; appends ``stop_reason generated_tokens`` of every generation
    that ends in this process to the file named by $LMSTREAM_TEST_ENDS (if set)."""

    @lmstream.hookimpl
    def lmstream_register_tool_parsers(self, register: Any) -> None:
        register("section", SectionParser)

    @lmstream.hookimpl
    def lmstream_generation_end(self, generation: Any, info: lmstream.Info) -> None:
        path = os.environ.get(ENDS_ENV)
        if path:
            with open(path, "a", encoding="utf-8") as file:
                file.write(f"{os.getpid()} {info.stop_reason} {info.stats.generated_tokens}\n")
