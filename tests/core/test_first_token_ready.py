"""A newcomer whose first token the runner sampled in prefill (``BatchRunner.first_token_ready``)
gets it at once, not after the next batched step of the streams already decoding.

The scripted runner is made to report its first tokens ready; every ``step`` call is logged
with its ids. Before a burst has a token (nothing decoding yet) nothing changes: a burst still
starts as one batch.
"""

from __future__ import annotations

import threading
from typing import Any

import lmstream
from lmstream_scripted.batch import ScriptedBatchRunner


def _logged_steps(monkeypatch: Any, ready: bool) -> list[tuple[int, ...]]:
    steps: list[tuple[int, ...]] = []
    step = ScriptedBatchRunner.step

    def logged(self: ScriptedBatchRunner, seq_ids: Any) -> Any:
        steps.append(tuple(seq_ids))
        return step(self, seq_ids)

    monkeypatch.setattr(ScriptedBatchRunner, "step", logged)
    monkeypatch.setattr(ScriptedBatchRunner, "first_token_ready", lambda self, seq_id: ready)
    return steps


def _newcomer_behind_a_stream(scripted: Any) -> None:
    context = scripted("." * 40, token_delay=0.005)
    started = threading.Event()
    first = lmstream.generate("first", context=context, observers=[_Started(started)])
    thread = threading.Thread(target=lambda: list(first))
    thread.start()
    assert started.wait(10)
    assert context.generate("second").text == "." * 40
    thread.join(10)


class _Started(lmstream.Observer):
    def __init__(self, event: threading.Event) -> None:
        self.event = event

    def on_event(self, generation: Any, event: Any) -> None:
        self.event.set()


def test_a_ready_first_token_is_handed_over_before_the_next_batched_step(scripted, monkeypatch):
    steps = _logged_steps(monkeypatch, ready=True)
    _newcomer_behind_a_stream(scripted)
    second = max(max(ids) for ids in steps)
    first_step = next(ids for ids in steps if second in ids)
    assert first_step == (second,)  # stepped alone at once


def test_without_it_the_newcomer_joins_the_batched_step(scripted, monkeypatch):
    steps = _logged_steps(monkeypatch, ready=False)
    _newcomer_behind_a_stream(scripted)
    second = max(max(ids) for ids in steps)
    first_step = next(ids for ids in steps if second in ids)
    assert len(first_step) == 2


def test_a_burst_still_starts_as_one_batch(scripted, monkeypatch):
    steps = _logged_steps(monkeypatch, ready=True)
    context = scripted("...", prefill_delay=0.001)
    threads = [threading.Thread(target=context.generate, args=(f"p{i} xxxx",)) for i in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(10)
    assert len(steps[0]) == 4
