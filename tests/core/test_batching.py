"""Continuous batching on the scripted backend: many streams in one decode loop, each intact."""

from __future__ import annotations

import random
import threading
import time

import pytest

import lmstream
from lmstream import Chunk, Info, RejectedToolCall, StopReason, ToolCall
from lmstream.model import BatchRunner, SequenceRequest, StepResult


def _collect(stream):
    events = list(stream)
    assert sum(isinstance(e, Info) for e in events) == 1 and isinstance(events[-1], Info)
    return events


def test_fifty_concurrent_streams_each_get_their_own_events(scripted):
    def reply(prompt: str) -> str:
        n = int(prompt.split("#")[1])
        return f"answer {n} STOP{n} tail" if n % 3 == 0 else (
            f'<tool_call>{{"name": "f{n}", "arguments": {{"n": {n}}}}}</tool_call>' if n % 3 == 1
            else f"plain reply number {n} " * 3)

    context = scripted(reply, max_batch_size=16, token_delay=0.001)
    rng = random.Random(7)
    runs = []
    for n in range(50):
        params = {"max_tokens": rng.choice([None, 5, 12, 400])}
        if n % 3 == 0:
            params["stop"] = [f"STOP{n}"]
        if n % 3 == 1:
            params["tool_parser"] = "json"
        cancel_after = rng.choice([None, None, 3]) if n % 3 == 2 else None
        stream, task = lmstream.generate_task(f"prompt #{n}#", context=context, parameters=params)
        runs.append((n, params, cancel_after, stream, task))

    results = {}

    def consume(n, cancel_after, stream):
        events = []
        for event in stream:
            events.append(event)
            if cancel_after is not None and sum(isinstance(e, Chunk) for e in events) == cancel_after:
                stream.cancel()
        results[n] = events

    threads = [threading.Thread(target=consume, args=(n, c, s)) for n, _, c, s, _ in runs]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert len(results) == 50
    for n, params, cancel_after, _, _ in runs:
        events = results[n]
        assert sum(isinstance(e, Info) for e in events) == 1 and isinstance(events[-1], Info)
        info = events[-1]
        text = "".join(e.text for e in events if isinstance(e, Chunk))
        calls = [e for e in events if isinstance(e, ToolCall)]
        limit = params["max_tokens"]
        if n % 3 == 0:
            expected = f"answer {n} "
            if limit is not None and limit < len(expected) + len(f"STOP{n}"):
                # an unfinished stop string is not a stop: its held-back text comes out at the end
                assert text == f"answer {n} STOP{n} tail"[:limit]
                assert info.stop_reason == StopReason.LENGTH
            else:
                assert text == expected and info.stop_reason == StopReason.STOP
        elif n % 3 == 1:
            if limit is None or limit == 400:
                assert calls == [ToolCall(calls[0].id, f"f{n}", {"n": n})] and text == ""
            else:
                assert not calls and info.stop_reason == StopReason.LENGTH
                assert all(isinstance(e, Chunk | RejectedToolCall | Info) for e in events)
        else:
            full = f"plain reply number {n} " * 3
            assert full.startswith(text), (n, text)
            if cancel_after is not None and (limit is None or limit > cancel_after):
                assert info.stop_reason == StopReason.CANCELLED
            elif limit is not None and limit < len(full):
                assert info.stop_reason == StopReason.LENGTH and len(text) == limit


def test_a_batch_really_steps_sequences_together(scripted):
    delay = 0.02
    context = scripted("x" * 20, token_delay=delay, max_batch_size=8)
    started = time.perf_counter()
    streams = [lmstream.generate(f"p{i}", context=context, parameters={"max_tokens": 20})
               for i in range(8)]
    texts = ["".join(e.text for e in _collect(s) if isinstance(e, Chunk)) for s in streams]
    elapsed = time.perf_counter() - started
    assert texts == ["x" * 20] * 8
    # one at a time would take 8 * 20 * delay = 3.2 s; together about 20 * delay = 0.4 s
    assert elapsed < 8 * 20 * delay / 2, elapsed


def _record_step_sizes(context) -> list[int]:
    """Wrap the context's runner so each step's number of sequences is appended to a list."""
    seen: list[int] = []
    original = context.scheduler._backend_lane.runner.step

    def spy(ids):
        seen.append(len(ids))
        return original(ids)

    context.scheduler._backend_lane.runner.step = spy
    return seen


def test_max_batch_size_bounds_the_batch(scripted):
    context = scripted("abcdef", token_delay=0.005, max_batch_size=3)
    seen = _record_step_sizes(context)
    streams = [lmstream.generate(f"p{i}", context=context) for i in range(7)]
    for s in streams:
        _collect(s)
    assert max(seen) == 3 and context.scheduler.max_batch_size == 3


def test_cancel_mid_batch_ends_within_one_step_and_others_continue(scripted):
    delay = 0.03
    context = scripted("abcdefghijklmnopqrstuvwxyz", token_delay=delay, max_batch_size=4)
    victim, victim_task = lmstream.generate_task("victim", context=context)
    others = [lmstream.generate_task(f"other {i}", context=context) for i in range(3)]
    for event in victim:
        if isinstance(event, Chunk) and event.text == "c":
            cancelled_at = time.perf_counter()
            victim.cancel()
            break
    info = victim_task.wait(5)
    assert info.stop_reason == StopReason.CANCELLED
    assert time.perf_counter() - cancelled_at < 2 * delay + 0.05
    for stream, task in others:
        text = "".join(e.text for e in _collect(stream) if isinstance(e, Chunk))
        assert text == "abcdefghijklmnopqrstuvwxyz" and task.wait(5).stop_reason == StopReason.STOP


def test_an_error_in_one_sequence_ends_only_that_stream(scripted):
    context = scripted("hello there", fail_at=3, fail_prompt="bad", max_batch_size=4)
    bad = lmstream.generate("a bad prompt", context=context)
    good = [lmstream.generate(f"good {i}", context=context) for i in range(3)]
    bad_events = _collect(bad)
    assert bad_events[-1].stop_reason == StopReason.ERROR
    assert "scripted failure" in str(bad_events[-1].error)
    assert "".join(e.text for e in bad_events if isinstance(e, Chunk)) == "hel"
    for stream in good:
        events = _collect(stream)
        assert events[-1].stop_reason == StopReason.STOP
        assert "".join(e.text for e in events if isinstance(e, Chunk)) == "hello there"


def test_a_short_request_behind_a_long_one_finishes_in_about_its_own_time(scripted):
    delay = 0.01
    context = scripted(lambda p: "y" * (2000 if "long" in p else 10), token_delay=delay)
    long_stream, long_task = lmstream.generate_task("long", context=context,
                                                    parameters={"max_tokens": None})
    time.sleep(0.05)
    started = time.perf_counter()
    short = _collect(lmstream.generate("short", context=context))
    elapsed = time.perf_counter() - started
    assert "".join(e.text for e in short if isinstance(e, Chunk)) == "y" * 10
    assert elapsed < 10 * delay * 5, elapsed  # about 11 steps, not 2,000
    assert not long_task.done()
    long_stream.cancel()
    assert long_task.wait(5).stop_reason == StopReason.CANCELLED


def test_batching_false_runs_one_generation_at_a_time(scripted):
    context = scripted("abc", token_delay=0.01, batching=False)
    assert not context.scheduler.batching and context.scheduler.max_batch_size == 1
    active = []
    streams = [lmstream.generate(f"p{i}", context=context) for i in range(3)]
    for s in streams:
        active.append("".join(e.text for e in _collect(s) if isinstance(e, Chunk)))
    assert active == ["abc"] * 3


def test_logprobs_reach_tokens_and_chunks(scripted):
    context = scripted("hi!")
    events = _collect(lmstream.generate("q", context=context,
                                        parameters={"logprobs": True, "top_logprobs": 2}))
    chunks = [e for e in events if isinstance(e, Chunk)]
    assert all(len(c.logprobs) == len(c.tokens) for c in chunks)
    first = chunks[0].logprobs[0]
    assert first.id == chunks[0].tokens[0] and first.logprob == 0.0 and len(first.top) == 2
    tokens = [e for e in lmstream.generate_tokens("q", context=context, parameters={"logprobs": True})
              if isinstance(e, lmstream.Token)]
    assert tokens and all(t.logprob == 0.0 for t in tokens)
    plain = [e for e in _collect(lmstream.generate("q", context=context)) if isinstance(e, Chunk)]
    assert all(c.logprobs is None for c in plain)


def test_top_logprobs_without_logprobs_is_refused():
    with pytest.raises(ValueError, match="top_logprobs needs logprobs"):
        lmstream.GenerationParameters(top_logprobs=3)


def test_logprobs_from_an_iterator_backend_are_an_error_not_silence(scripted):
    context = scripted("abc", batching=False)
    events = _collect(lmstream.generate("q", context=context, parameters={"logprobs": True}))
    assert events[-1].stop_reason == StopReason.ERROR and "logprobs" in str(events[-1].error)


def test_load_options_of_the_scheduler_are_validated():
    for bad in ({"max_batch_size": 0}, {"max_batch_size": True}, {"batching": "yes"},
                {"max_buffered_events": 0}, {"prefill_chunk_s": -1}):
        with pytest.raises((TypeError, ValueError), match=next(iter(bad))):
            lmstream.load(backend="scripted", **bad)


class _RecordingRunner(BatchRunner):
    """A minimal third-party batching runner: echoes each prompt back, one id per step."""

    def __init__(self) -> None:
        self.rows: dict[int, list[int]] = {}
        self.step_sizes: list[int] = []

    def add(self, request: SequenceRequest) -> None:
        self.rows[request.seq_id] = list(request.prompt)

    def prefill(self, seq_id: int, max_tokens: int) -> bool:
        return True

    def step(self, seq_ids):
        self.step_sizes.append(len(seq_ids))
        return [StepResult(i, self.rows[i].pop(0)) if self.rows[i] else StepResult(i, 1)
                for i in seq_ids]

    def remove(self, seq_id: int) -> None:
        del self.rows[seq_id]


def test_a_third_party_runner_is_driven_through_the_contract(scripted):
    context = scripted("unused", max_batch_size=4)
    runner = _RecordingRunner()
    context.scheduler._backend_lane.runner = runner
    tokenizer = context.tokenizer
    eos = min(tokenizer.eos_token_ids)
    streams = [lmstream.generate(lmstream.LMInput(tokens=(*tokenizer.encode(f"echo {i}"), eos)),
                                 context=context) for i in range(4)]
    texts = ["".join(e.text for e in _collect(s) if isinstance(e, Chunk)) for s in streams]
    assert texts == [f"echo {i}" for i in range(4)]
    assert max(runner.step_sizes) == 4 and runner.rows == {}


def test_prompts_arriving_together_are_prefilled_before_the_next_step(scripted):
    context = scripted("abcdefgh", prefill_delay=0.001, token_delay=0.01, max_batch_size=8)
    seen = _record_step_sizes(context)
    streams = [lmstream.generate(f"prompt {i}", context=context) for i in range(8)]
    for s in streams:
        _collect(s)
    # not one newcomer per step (1, 2, 3, ... 8): the prefill budget takes them all at once
    assert 8 in seen[:3], seen


def test_a_burst_arriving_during_the_first_prefill_starts_in_one_step(scripted):
    # Each prompt takes ~0.1 s to prefill; the other seven arrive while the first prefills
    # (one every 10 ms, as threads of a server do). Before any stream has a token, the
    # scheduler keeps admitting and prefilling, so the first step already holds all eight.
    # The burst window (8 prefill budgets of the default 0.25 s) is far longer than the
    # eight prefills (~0.8 s), so late thread starts on a loaded machine still make it.
    context = scripted("abcdefgh", prefill_delay=0.01, token_delay=0.01, max_batch_size=8)
    seen = _record_step_sizes(context)
    streams: list[object] = [None] * 8

    def start(i: int) -> None:
        streams[i] = lmstream.generate(f"prompt {i}", context=context)

    threads = []
    for i in range(8):
        threads.append(threading.Thread(target=start, args=(i,)))
        threads[-1].start()
        time.sleep(0.01)
    for t in threads:
        t.join()
    for s in streams:
        _collect(s)
    assert seen[0] == 8, seen


def test_a_burst_does_not_hold_the_first_token_past_its_window(scripted):
    # 30 newcomers arrive faster than they prefill (~0.1 s each): without a bound the first
    # token would wait for all of them (~3 s). The burst window is 8 prefill budgets (0.4 s).
    context = scripted("abcd", prefill_delay=0.01, token_delay=0.005, max_batch_size=64,
                       prefill_chunk_s=0.05)
    first = lmstream.generate("prompt 0", context=context)
    started = time.perf_counter()
    others = []

    def feed() -> None:
        for i in range(30):
            others.append(lmstream.generate(f"prompt {i + 1}", context=context))
            time.sleep(0.02)

    feeder = threading.Thread(target=feed)
    feeder.start()
    next(iter(first))
    first_token = time.perf_counter() - started
    feeder.join()
    for s in [first, *others]:
        _collect(s)
    assert first_token < 1.5, first_token
