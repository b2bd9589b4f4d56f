"""Bursts of short chat prompts fill the batch instead of trickling in.

Eight concurrent chat requests (20-80 tokens each) once took twice the decode steps of one
batch: the prompts prefilled first started decoding, and every older prompt was then paced
beside them as if it were a long prompt holding up a short request (16-token chunks every few
steps). Only long prompts are paced now (``scheduling/_prefill_policy.py``); short prompts
waiting together share prefill calls when the runner has ``prefill_many``. The scripted backend simulates prefill cost per prompt
token and a decode step's cost; assertions count the worker's steps, not wall-clock ratios.
"""

from __future__ import annotations

import threading
from types import SimpleNamespace
from typing import Any

import lmstream
from lmstream.scheduling._prefill_policy import PACED_PROMPT, UNSPLIT_PROMPT, PrefillPolicy


def _collect(stream: Any) -> str:
    text = ""
    for event in stream:
        if isinstance(event, lmstream.Info):
            assert event.error is None
        else:
            text += getattr(event, "text", "")
    return text


def _burst(context: Any, prompts: list[str]) -> list[Any]:
    """Admit ``prompts`` together (the worker is held until all are queued)."""
    release = threading.Event()
    context.worker.submit(lambda: release.wait(30))
    streams = [lmstream.generate(text, context=context) for text in prompts]
    release.set()
    return streams


def test_older_short_prompts_left_after_a_burst_join_the_batch_within_a_few_steps(scripted):
    # Twelve 40-token prompts and two 10-token ones are admitted together (1 ms a prompt token,
    # 30 ms rounds, an 8-round burst window of 0.24 s). The short ones go first; the window
    # closes with several 40-token prompts still waiting, admitted before streams now
    # decoding. Each is prefilled whole (not in 30 ms pieces, one per step) and joins: a step
    # soon holds all 14. Paced as if long, they took 16 tokens every ~5 steps and joined after
    # the first rows had ended.
    reply = "r" * 40
    context = scripted(reply, prefill_delay=0.001, token_delay=0.005, prefill_chunk_s=0.03,
                       max_batch_size=16)
    runner = context.scheduler._backend_lane.runner
    seen: list[int] = []
    sizes: list[int] = []
    step, prefill = runner.step, runner.prefill

    def spy_step(ids: Any) -> Any:
        seen.append(len(ids))
        return step(ids)

    def spy_prefill(seq_id: int, size: int) -> Any:
        sizes.append(size)
        return prefill(seq_id, size)

    runner.step, runner.prefill = spy_step, spy_prefill
    streams = _burst(context, [f"{i:02d}" + "L" * 38 for i in range(12)] + ["short one!", "short two!"])
    assert all(_collect(s) == reply for s in streams)
    assert 14 in seen, seen
    assert all(size == 16 or size >= 40 for size in sizes), sizes  # 16: a 10-token prompt's chunk


def _sequence(seq_id: int, prompt: int) -> Any:
    """A stand-in ActiveSequence with what the policy reads."""
    return SimpleNamespace(seq_id=seq_id, plan=SimpleNamespace(prompt=(1,) * prompt, cache=None,
                                                               parameters=SimpleNamespace(prefill_step_size=512)),
                           control=SimpleNamespace(progress_tokens=None), request=SimpleNamespace(cache=None))


def _decoder(seq_id: int) -> Any:
    return SimpleNamespace(seq_id=seq_id, channel=SimpleNamespace(paused=False, cancelled=False))


def test_only_long_prompts_are_paced_beside_younger_streams():
    policy = PrefillPolicy()
    policy.rate = 1000.0
    short, long = _sequence(1, PACED_PROMPT), _sequence(2, PACED_PROMPT + 1)
    policy.pick([short, long])
    younger = _decoder(3)
    assert policy.budget(short, [younger], 0.25) == 0.25
    assert policy.budget(long, [younger], 0.25) == 0.0  # nothing earned yet: the stream steps


def test_a_short_rest_is_one_chunk_and_waits_for_a_round_it_fits():
    policy = PrefillPolicy()
    policy.rate = 1000.0  # 1 ms per token
    short, long = _sequence(1, UNSPLIT_PROMPT), _sequence(2, 2000)
    policy.pick([short, long])
    assert policy.chunk_size(short, 0.02, alone=True) == UNSPLIT_PROMPT  # nothing steps meanwhile
    assert policy.chunk_size(short, 0.02) == 20  # streams step between chunks: the round's budget
    assert policy.waits(short, 0.02, 0.25) and not policy.waits(short, 0.2, 0.25)  # no fragment
    assert policy.waits(long, 0.1, 0.25) and not policy.waits(long, 0.2, 0.25)  # under half a round


def test_a_burst_keeps_prefilling_while_its_shortest_prompt_fits():
    policy = PrefillPolicy()
    policy.rate = 100.0
    short, long = _sequence(1, 50), _sequence(2, 5000)
    policy.pick([short, long])
    assert policy.fits([short, long], 1.0)  # the short one fits: the burst takes it in
    assert not policy.fits([long], 1.0)  # a long one alone would only delay the others


def test_short_prompts_of_a_burst_are_prefilled_in_shared_calls(scripted):
    # A runner with ``prefill_many`` (the MLX one) gets the burst's short prompts in one call.
    context = scripted("abcd", prefill_delay=0.001, token_delay=0.01, max_batch_size=8)
    lane = context.scheduler._backend_lane
    calls: list[list[int]] = []

    def prefill_many(ids: list[int], sizes: list[int]) -> list[bool]:
        calls.append(list(sizes))
        return [lane.runner.prefill(i, n) for i, n in zip(ids, sizes, strict=True)]

    lane.prefill_many = prefill_many
    assert lane.policy.rate is None
    lane.policy.rate = 1000.0  # measured before (companions need a rate)
    streams = _burst(context, [f"prompt number {i}" for i in range(6)])
    assert all(_collect(s) == "abcd" for s in streams)
    assert calls and len(calls[0]) == 6, calls  # all six short prompts whole, in one call


def test_a_failed_shared_call_prefills_each_prompt_alone(scripted):
    context = scripted("abcd", prefill_delay=0.001, token_delay=0.01, max_batch_size=8)
    lane = context.scheduler._backend_lane
    failures: list[int] = []

    def prefill_many(ids: list[int], sizes: list[int]) -> list[bool]:
        failures.append(len(ids))
        raise MemoryError("no room for a shared call")

    lane.prefill_many = prefill_many
    lane.policy.rate = 1000.0
    streams = _burst(context, [f"prompt number {i}" for i in range(4)])
    assert all(_collect(s) == "abcd" for s in streams)
    assert failures
