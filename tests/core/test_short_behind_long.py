"""A short request arriving while a long prompt prefills is not stuck behind it.

The scheduler prefills the shortest remaining prompt first (with ageing, so a long prompt is
never starved) and, while a stream admitted after the prompt being prefilled decodes, gives
prefill only a quarter of the worker's time (``scheduling/_prefill_policy.py``). The scripted
backend simulates prefill cost per prompt token (``prefill_delay``) and a decode step's cost
(``token_delay``). Assertions count what the worker did, in the order it did it (observers and
prefill progress both run on the worker thread), not wall-clock ratios.
"""

from __future__ import annotations

import threading
from types import SimpleNamespace
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import lmstream
from lmstream.hooks import Observer
from lmstream.protocol import Info
from lmstream.scheduling._prefill_policy import AGEING_CHUNKS, PrefillPolicy

LONG = 2000
"""Tokens of the long prompt (the scripted tokenizer has one token per character)."""


def _reply(prompt: str) -> str:
    """Each request's own reply, named after its prompt's first word."""
    return f"<{prompt.split()[0]}>" + "." * 20


class _Log(Observer):
    """Appends (name, event kind) to a shared log, on the worker thread."""

    def __init__(self, log: list[tuple[str, Any]], name: str) -> None:
        self.log, self.name = log, name

    def on_event(self, generation: Any, event: Any) -> None:
        self.log.append((self.name, "end" if isinstance(event, Info) else "token"))


def _text(stream: Any) -> tuple[str, Info]:
    text, info = "", None
    for event in stream:
        if isinstance(event, Info):
            info = event
        else:
            text += getattr(event, "text", "")
    assert info is not None
    return text, info


def _long_then_short(context: lmstream.ModelContext) -> tuple[list[tuple[str, Any]], str, str]:
    """Start the long prompt, wait for its first chunk, then run the short one to its end."""
    log: list[tuple[str, Any]] = []
    first_chunk = threading.Event()

    def progress(done: int, total: int) -> None:
        log.append(("prefill", done))
        if done:
            first_chunk.set()

    long_stream, _task = lmstream.generate_task("long " + "x" * (LONG - 5), context=context,
                                                on_prefill_progress=progress,
                                                observers=[_Log(log, "long")])
    assert first_chunk.wait(30)
    short_text, short_info = _text(lmstream.generate("short please", context=context,
                                                     observers=[_Log(log, "short")]))
    long_text, long_info = _text(long_stream)
    assert short_info.error is None and long_info.error is None
    return log, short_text, long_text


def test_a_short_request_finishes_before_the_long_prompt_ahead_of_it_is_prefilled(scripted):
    # 2 s of long prefill in 20 ms chunks; the short one arrives after the first chunk.
    context = scripted(_reply, prefill_delay=0.001, token_delay=0.005, prefill_chunk_s=0.02)
    log, short_text, long_text = _long_then_short(context)
    assert short_text == "<short>" + "." * 20 and long_text == "<long>" + "." * 20
    short_end = log.index(("short", "end"))
    long_done = max(done for name, done in log[:short_end] if name == "prefill")
    assert long_done < LONG  # the long prompt was still prefilling when the short one ended
    assert ("long", "token") not in log[:short_end]


def test_a_long_prefill_takes_a_quarter_of_the_time_of_the_short_stream_it_let_through(scripted):
    # A prompt token costs 1 ms, a decode step 30 ms. Before: a 30 ms chunk of the long prompt
    # (or two) per step of the short stream (twice its solo time or more); now about 10 ms
    # (10 tokens) per step, never more than half a step's worth.
    context = scripted(_reply, prefill_delay=0.001, token_delay=0.03, prefill_chunk_s=0.03)
    log, _, _ = _long_then_short(context)
    first = log.index(("short", "token"))
    end = log.index(("short", "end"))
    steps = sum(1 for entry in log[first:end] if entry == ("short", "token"))
    progress = [done for name, done in log if name == "prefill"]
    before = max(done for name, done in log[:first] if name == "prefill")
    during = max(done for name, done in log[:end] if name == "prefill") - before
    assert steps >= 20
    assert progress[-1] > before + during  # the long one was still prefilling at the end
    assert 16 <= during <= 15 * steps, (during, steps)  # within 1.5x of its solo time in work


def test_a_burst_with_a_prompt_too_long_for_its_window_does_not_hold_the_others(scripted):
    # The long prompt needs ~2 s, the burst window is 8 x 20 ms: the short one, prefilled
    # first, starts decoding instead of waiting for the long prefill to end.
    context = scripted(_reply, prefill_delay=0.001, token_delay=0.005, prefill_chunk_s=0.02)
    log: list[tuple[str, Any]] = []
    long_stream = lmstream.generate("long " + "x" * (LONG - 5), context=context,
                                    observers=[_Log(log, "long")])
    short_text, _ = _text(lmstream.generate("short", context=context,
                                            observers=[_Log(log, "short")]))
    assert short_text == "<short>" + "." * 20
    assert ("long", "token") not in log[:log.index(("short", "end"))]
    _text(long_stream)


@pytest.mark.parametrize("parts", [1, 50])
def test_a_newcomer_does_not_wait_for_the_rest_of_a_chunk_that_can_stop(scripted, parts):
    # 2 s of long prefill in chunks of 0.1 s (the burst window, 8 chunks, cannot cover it); the
    # runner computes a chunk in ``prefill_parts`` parts and stops between them for a newcomer
    context = scripted(_reply, prefill_delay=0.001, token_delay=0.002, prefill_chunk_s=0.1,
                       prefill_parts=parts)
    log, _, _ = _long_then_short(context)
    submitted = next(k for k, (name, done) in enumerate(log) if name == "prefill" and done)
    first = log.index(("short", "token"))
    chunks = sum(1 for name, _ in log[submitted + 1:first] if name == "prefill")
    if parts == 1:
        # a chunk that cannot stop runs to its end first; then the short one is prefilled and
        # steps at once: the round's rest does not go to a prompt the burst will not wait for
        assert chunks == 1
    else:
        assert chunks == 0  # stopped part-way: the short one was answered before it ended


# -- the policy alone: ordering, ageing, cache order ----------------------------------------
def _sequence(seq_id: int, prompt: int, cache: object = None) -> Any:
    """A stand-in ActiveSequence with what the policy reads."""
    control = SimpleNamespace(progress_tokens=None)
    return SimpleNamespace(seq_id=seq_id, plan=SimpleNamespace(prompt=(1,) * prompt, cache=cache),
                           control=control, request=SimpleNamespace(cache=cache))


def _chunk(policy: PrefillPolicy, prefilling: list[Any], tokens: int) -> Any:
    chosen = policy.pick(prefilling)
    chosen.control.progress_tokens = (chosen.control.progress_tokens or 0) + tokens
    if policy.remaining(chosen) == 0:
        prefilling.remove(chosen)
    policy.chunk_done(chosen, prefilling, 0.01)
    return chosen


def test_the_shortest_remaining_prompt_goes_first():
    policy = PrefillPolicy()
    long, short = _sequence(1, 1000), _sequence(2, 10)
    assert policy.pick([long, short]) is short


def test_a_cached_prefix_does_not_count_as_prompt_left():
    # 900 of the first prompt's 1000 tokens are in its cache: 100 left against 200
    cache = lmstream.ListPromptCache([1] * 900)
    cached, other = _sequence(1, 1000), _sequence(2, 200)
    cached.request.cache = cached.plan.cache = cache
    assert PrefillPolicy().pick([other, cached]) is cached


def test_a_long_prompt_is_not_starved_by_a_stream_of_short_ones():
    # a new 16-token prompt arrives before every chunk: the long one still gets one chunk in
    # every AGEING_CHUNKS + 1 and finishes
    policy = PrefillPolicy()
    long = _sequence(1, 640)
    prefilling = [long]
    long_chunks = 0
    for i in range(2, 2000):
        prefilling.append(_sequence(i, 16))
        if _chunk(policy, prefilling, 16) is long:
            long_chunks += 1
        if long not in prefilling:
            break
    assert long not in prefilling, long_chunks
    assert i <= 40 * (AGEING_CHUNKS + 1) + 1


def test_generations_sharing_a_cache_keep_submission_order():
    cache = lmstream.ListPromptCache()
    first, second, other = _sequence(1, 500, cache), _sequence(2, 5, cache), _sequence(3, 50)
    policy = PrefillPolicy()
    assert policy.pick([first, second, other]) is other
    assert policy.pick([first, second]) is first


def _decoder(seq_id: int, paused: bool = False) -> Any:
    return SimpleNamespace(seq_id=seq_id, channel=SimpleNamespace(paused=paused, cancelled=False))


def test_prefill_gets_a_quarter_share_only_beside_younger_streams_that_can_step():
    policy = PrefillPolicy()
    policy.rate = 1000.0  # tokens per second: the smallest chunk (16 tokens) takes 16 ms
    long = _sequence(1, 1000)
    policy.pick([long])
    younger, older = _decoder(2), _decoder(0)
    assert policy.budget(long, [older], 0.25) == 0.25  # streams running before it: a full chunk
    assert policy.budget(long, [younger], 0.25) == 0.0  # nothing earned yet: the stream steps
    policy.stepped(0.03)  # a 30 ms step earns 10 ms: less than the smallest chunk
    assert policy.budget(long, [younger], 0.25) == 0.0
    policy.stepped(0.03)
    assert abs(policy.budget(long, [older, younger], 0.25) - 0.02) < 1e-9
    policy.chunk_done(long, [long], 0.025)  # it overran by 5 ms: the next chunk waits longer
    policy.stepped(0.06)  # earns 20 ms, 5 of which pay the overrun: 15 ms is not enough
    assert policy.budget(long, [younger], 0.25) == 0.0
    policy.stepped(0.03)
    assert abs(policy.budget(long, [younger], 0.25) - 0.025) < 1e-9
    assert policy.budget(long, [_decoder(2, paused=True)], 0.25) == 0.25  # none could step
    assert PrefillPolicy(pacing=False).budget(long, [younger], 0.25) == 0.25


# -- any arrival pattern: every request completes with exactly its own events ---------------
@settings(max_examples=8, deadline=None)
@given(st.lists(st.tuples(st.sampled_from([3, 12, 300, 900]), st.integers(0, 30)),
                min_size=2, max_size=6))
def test_every_request_completes_with_its_own_reply_whatever_the_arrival_pattern(arrivals):
    context = lmstream.load(backend="scripted", reply=_reply, prefill_delay=0.0002,
                            token_delay=0.001, prefill_chunk_s=0.01, max_batch_size=4,
                            model_chat_template=None)
    try:
        streams = []
        pause = threading.Event()
        for index, (length, wait_ms) in enumerate(arrivals):
            pause.wait(wait_ms / 1000)
            name = f"r{index}"
            streams.append((name, lmstream.generate(name + " " + "x" * length, context=context)))
        for name, stream in streams:
            text, info = _text(stream)
            assert info.error is None
            assert text == f"<{name}>" + "." * 20
    finally:
        context.close()


# -- the real backends: interleaved partial prefills of two prompts stay exact -------------
@pytest.mark.slow
@pytest.mark.parametrize("backend", ["llama_cpp", "mlx"])
def test_a_short_request_behind_a_long_prefill_on_a_real_backend_is_its_solo_output(
        backend, require_backend):
    # The short prompt is prefilled between chunks of the long one and decodes while the long
    # one still prefills: greedy, its tokens are exactly those of the same request alone.
    require_backend(backend)
    context = lmstream.load(backend=backend, prefix_cache_bytes=0, prefill_chunk_s=0.05)
    try:
        def prompt(text: str) -> lmstream.LMInput:
            message = {"role": "user", "content": text}
            return lmstream.LMInput(tokens=tuple(context.prepare(
                lmstream.UserInput(messages=[message])).tokens))

        def ids(stream: Any) -> tuple[int, ...]:
            out = []
            for event in stream:
                if isinstance(event, Info):
                    assert event.error is None
                else:
                    out.append(event.id)
            return tuple(out)

        short = prompt("What is the capital of France?")
        solo = ids(lmstream.generate_tokens(short, context=context, parameters={"max_tokens": 8}))
        first_chunk = threading.Event()
        progress: list[int] = []

        def on_progress(done: int, total: int) -> None:
            progress.append(done)
            if done:
                first_chunk.set()

        long_prompt = prompt("The river ran past the old mill and the miller counted grain. " * 45)
        long_stream, _ = lmstream.generate_task(long_prompt, context=context,
                                                parameters={"max_tokens": 2},
                                                on_prefill_progress=on_progress)
        assert first_chunk.wait(120)
        behind = ids(lmstream.generate_tokens(short, context=context, parameters={"max_tokens": 8}))
        done_when_short_ended = max(progress)
        _, long_info = _text(long_stream)
        assert long_info.error is None and long_info.stats.generated_tokens >= 1
        assert behind == solo
        assert done_when_short_ended < max(progress)  # the long prompt was still prefilling
    finally:
        context.close()
