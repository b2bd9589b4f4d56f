"""Observers: per-call and global, isolated from the stream and from each other."""

from __future__ import annotations

import logging

import lmstream
from lmstream import Chunk, Info, StopReason


class Recorder(lmstream.Observer):
    def __init__(self) -> None:
        self.started = 0
        self.events: list[object] = []
        self.ended: list[Info] = []

    def on_start(self, generation):
        self.started += 1

    def on_event(self, generation, event):
        self.events.append(event)

    def on_end(self, generation, info):
        self.ended.append(info)


def test_per_call_observer_sees_every_event(scripted):
    recorder = Recorder()
    events = list(lmstream.generate("hi", context=scripted("abc"), observers=[recorder]))
    assert recorder.started == 1
    assert recorder.events == events
    assert recorder.ended == [events[-1]]


def test_raising_observer_is_logged_and_isolated(scripted, caplog, raising_observer):
    before, after = Recorder(), Recorder()
    with caplog.at_level(logging.ERROR, logger="lmstream.observers"):
        events = list(lmstream.generate("hi", context=scripted("abc"), observers=[before, raising_observer, after]))
    assert "".join(e.text for e in events if isinstance(e, Chunk)) == "abc"
    assert events[-1].stop_reason == StopReason.STOP
    assert before.events == events and after.events == events
    assert len(after.ended) == 1
    assert "boom on event" in caplog.text and "boom at end" in caplog.text


def test_global_hook_observer_via_plugin_manager(scripted, plugin_system):
    seen: list[str] = []

    class GlobalPlugin:
        @lmstream.hookimpl
        def lmstream_generation_start(self, generation):
            seen.append(f"start:{generation.model.name}")

        @lmstream.hookimpl
        def lmstream_generation_event(self, generation, event):
            if isinstance(event, Chunk):
                seen.append(event.text)

        @lmstream.hookimpl
        def lmstream_generation_end(self, generation, info):
            seen.append(f"end:{info.stop_reason}")

    class BrokenPlugin:
        @lmstream.hookimpl
        def lmstream_generation_event(self, generation, event):
            raise ValueError("broken global observer")

    plugin_system.register(BrokenPlugin(), name="broken")
    plugin_system.register(GlobalPlugin(), name="recorder")
    context = scripted("ab", name="m1")
    list(lmstream.generate("hi", context=context))
    assert seen == ["start:m1", "a", "b", "end:stop"]


def test_observer_objects_need_not_subclass(scripted):
    class Duck:
        def __init__(self) -> None:
            self.ends = 0

        def on_end(self, generation, info):
            self.ends += 1

    duck = Duck()
    list(lmstream.generate("hi", context=scripted("a"), observers=[duck]))
    assert duck.ends == 1


def test_generation_record_describes_the_generation(scripted):
    records = []

    class Keep(lmstream.Observer):
        def on_start(self, generation):
            records.append(generation)

    context = scripted("abc")
    list(lmstream.generate("hey", context=context, parameters={"max_tokens": 2}, observers=[Keep()]))
    list(lmstream.generate_tokens("hey", context=context, observers=[Keep()]))
    assert records[0].parameters.max_tokens == 2 and records[0].kind == "decoded"
    assert records[0].prompt_tokens == 3 and records[1].kind == "tokens"
    assert records[0].id != records[1].id
