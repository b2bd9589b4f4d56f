"""The batch runner against the contract in lmstream.model._batching, driven directly (as the core's
scheduler drives it): several sequences in one llama_decode, chunked prefill, per-sequence
sampling, logprobs, prompt-cache reuse, slot and KV limits.

Slow: real decoding on the default model (short: a few tokens per sequence).
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import lmstream
from lmstream.model import GenerationControl, SequenceRequest
from lmstream.protocol import GenerationParameters
from lmstream_llama_cpp.engine import DecodeError
from lmstream_llama_cpp.runner import LlamaCppBatchRunner

pytestmark = pytest.mark.slow

PROMPTS = ["The capital of France is", "Once upon a time, in a small village,",
           "def fibonacci(n):", "List three colours:"]
TOKENS = 6


def request(seq_id: int, prompt: Sequence[int], cache: Any = None,
            **parameters: Any) -> SequenceRequest:
    """A SequenceRequest as the scheduler makes it."""
    params = GenerationParameters(**parameters)
    control = GenerationControl(threading.Event(), max_tokens=params.max_tokens or 1_000_000)
    return SequenceRequest(seq_id, tuple(prompt), params, cache, control)


def on_worker(context: Any, job: Callable[[], Any]) -> Any:
    return context.worker.call(job)


def solo(context: Any, prompt: Sequence[int], count: int = TOKENS, **parameters: Any) -> list[int]:
    """``count`` tokens of one sequence alone: a runner with one row, as a single stream runs."""

    def job() -> list[int]:
        runner = LlamaCppBatchRunner(context.backend_model.engine)
        runner.add(request(0, prompt, **parameters))
        try:
            while not runner.prefill(0, 512):
                pass
            out = []
            for _ in range(count):
                (result,) = runner.step([0])
                assert result.error is None, result.error
                out.append(result.token)
            return out
        finally:
            runner.remove(0)

    return on_worker(context, job)


def encoded(context: Any) -> list[list[int]]:
    return [context.tokenizer.encode(p) for p in PROMPTS]


@pytest.fixture(scope="module")
def solo_tokens(llama_context: Any) -> list[list[int]]:
    return [solo(llama_context, p) for p in encoded(llama_context)]


@settings(max_examples=6, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(chunks=st.lists(st.integers(1, 7), min_size=4, max_size=4),
       order=st.permutations(range(4)), steps=st.lists(st.booleans(), min_size=1, max_size=32))
def test_batched_greedy_equals_solo(llama_context: Any, solo_tokens: list[list[int]],
                                    chunks: list[int], order: list[int], steps: list[bool]) -> None:
    """However prefill is chunked and interleaved with steps, every sequence gets the tokens
    it gets alone."""
    prompts = encoded(llama_context)
    runner = llama_context.backend_model.new_batch_runner()

    def job() -> dict[int, list[int]]:
        out: dict[int, list[int]] = {i: [] for i in range(4)}
        prefilling = list(order)
        ready: list[int] = []
        turn = 0
        try:
            for i in order:
                runner.add(request(i, prompts[i], max_tokens=TOKENS))
            while prefilling or ready:
                if prefilling:
                    i = prefilling[0]
                    if runner.prefill(i, chunks[i]):
                        prefilling.pop(0)
                        ready.append(i)
                turn += 1
                if ready and (steps[turn % len(steps)] or not prefilling):
                    for result in runner.step(ready):
                        assert result.error is None, result.error
                        out[result.seq_id].append(result.token)
                    for i in [i for i in ready if len(out[i]) == TOKENS]:
                        runner.remove(i)
                        ready.remove(i)
        finally:
            runner.close()
        return out

    out = on_worker(llama_context, job)
    assert [out[i] for i in range(4)] == solo_tokens


def test_mark_prefill_done_and_logprobs(llama_context: Any, solo_tokens: list[list[int]]) -> None:
    prompt = encoded(llama_context)[0]
    runner = llama_context.backend_model.new_batch_runner()
    req = request(7, prompt, logprobs=True, top_logprobs=3)

    def job() -> list[Any]:
        runner.add(req)
        try:
            while not runner.prefill(7, 4):
                assert req.control.prefill_end is None
            return [runner.step([7])[0] for _ in range(3)]
        finally:
            runner.remove(7)

    results = on_worker(llama_context, job)
    assert req.control.prefilled_tokens == len(prompt) and req.control.cached_prompt_tokens == 0
    assert [r.token for r in results] == solo_tokens[0][:3]
    for r in results:
        assert r.top_logprobs is not None and len(r.top_logprobs) == 3
        assert r.top_logprobs[0] == (r.token, r.logprob)  # greedy picks the most likely token
        assert r.logprob is not None and r.logprob <= 0.0
        assert [lp for _, lp in r.top_logprobs] == sorted((lp for _, lp in r.top_logprobs), reverse=True)
    memory = req.control.memory
    assert memory["weights_bytes"] and memory["kv_cache_used_bytes"] and memory["peak_bytes"]


def test_logit_bias_and_seeded_sampling(llama_context: Any, solo_tokens: list[list[int]]) -> None:
    prompt = encoded(llama_context)[0]
    first = solo_tokens[0][0]
    assert solo(llama_context, prompt, 1, logit_bias={first: -100.0})[0] != first
    assert solo(llama_context, prompt, 2, logit_bias={42: 100.0}) == [42, 42]
    seeded = [solo(llama_context, prompt, 8, temperature=1.0, seed=s) for s in (5, 5, 6, 7)]
    assert seeded[0] == seeded[1] and (seeded[2] != seeded[0] or seeded[3] != seeded[0])
    penalized = solo(llama_context, prompt, TOKENS, repetition_penalty=1.5, presence_penalty=0.5,
                     frequency_penalty=0.5, top_k=20, top_p=0.9, min_p=0.05)
    assert len(penalized) == TOKENS


def test_cache_reuse_and_a_cancelled_prefill_leave_the_cache_consistent(llama_context: Any) -> None:
    prompts = encoded(llama_context)
    prompt = prompts[1]
    model = llama_context.backend_model
    runner = model.new_batch_runner()
    cache = on_worker(llama_context, model.new_cache)

    def run(seq_id: int, ids: Sequence[int], chunk: int, steps: int) -> tuple[list[int], Any]:
        req = request(seq_id, ids, cache)
        runner.add(req)
        tokens: list[int] = []
        try:
            done = False
            while not done:
                done = runner.prefill(seq_id, chunk)
                if not done and steps < 0:  # cancelled mid-prefill
                    break
            for _ in range(max(steps, 0)):
                tokens.append(runner.step([seq_id])[0].token)
        finally:
            runner.remove(seq_id)
        return tokens, req.control

    first, _ = on_worker(llama_context, lambda: run(1, prompt, 512, 3))
    assert cache.tokens == prompt + first[:2] and cache.nbytes > 0  # the last token was never fed
    again, control = on_worker(llama_context, lambda: run(2, prompt + first[:2], 512, 1))
    assert control.cached_prompt_tokens == len(prompt) + 1 and again == first[2:3]
    on_worker(llama_context, lambda: run(3, prompt[:3] + prompts[2], 2, -1))
    assert cache.tokens == prompt[:3] + prompts[2][:2]  # the reused prefix plus one chunk
    fresh = solo(llama_context, prompts[2], 2)
    reused, control = on_worker(llama_context, lambda: run(4, prompts[2], 512, 2))
    assert reused == fresh and control.cached_prompt_tokens == 0


def test_slots_and_kv_cells_are_bounded(small_context: Any) -> None:
    model = small_context.backend_model
    runner = model.new_batch_runner()
    assert runner.max_batch_size == 3
    prompt = small_context.tokenizer.encode("word " * 100)

    def job() -> None:
        try:
            for i in range(3):
                runner.add(request(i, prompt[:10]))
            with pytest.raises(RuntimeError, match=r"all 3 llama\.cpp sequence slots are busy"):
                runner.add(request(3, prompt[:10]))
            for i in range(3):
                runner.remove(i)
            for i in (4, 5, 6):  # 3 x ~100 prompt tokens do not fit 256 shared KV cells
                runner.add(request(i, prompt))
            assert runner.prefill(4, 64) is False and runner.prefill(4, 64) is True
            assert runner.prefill(5, 64) is False and runner.prefill(5, 64) is True
            used = model.engine.used_cells
            # the third prompt does not fit the cells left: it waits, holding none, not an error
            assert runner.prefill(6, 64) is False and model.engine.used_cells == used
            (result,) = runner.step([4])  # the others carry on
            assert result.error is None
            runner.remove(4)
            assert runner.prefill(6, 64) is False and runner.prefill(6, 64) is True  # room again
        finally:
            runner.close()
        assert model.engine.busy_slots == 0 and model.engine.used_cells == 0

    on_worker(small_context, job)
    with pytest.raises(ValueError, match="kv_bits"):
        model.validate(prompt, GenerationParameters(kv_bits=4))
    with pytest.raises(ValueError, match="top_k"):
        model.validate(prompt, GenerationParameters(top_k=10**6))
    with pytest.raises(ValueError, match="logit_bias"):
        model.validate(prompt, GenerationParameters(logit_bias={-1: 1.0}))
    with pytest.raises(ValueError, match="context holds 256"):
        model.validate(prompt * 3, GenerationParameters())


def test_a_step_without_enough_shared_cells_stops_only_the_row_that_generated_most(small_context: Any) -> None:
    """Every decoding row takes a cell per step from the cells all sequences share: when they
    run out, the row that generated the most stops with an error saying why and the others
    keep stepping (the whole step used to fail, every stream with it). Row 0 has the short
    prompt and starts generating first: it is stopped, not row 1 with its long prompt."""
    runner = small_context.backend_model.new_batch_runner()
    engine = small_context.backend_model.engine
    no_eos = {eos: -100.0 for eos in small_context.tokenizer.eos_token_ids}
    words = small_context.tokenizer.encode("word " * 200)

    def job() -> tuple[list[Any], int]:
        try:
            runner.add(request(0, words[:20], logit_bias=no_eos))
            while not runner.prefill(0, 64):
                pass
            for _ in range(30):  # row 0 generates alone first
                (alone,) = runner.step([0])
                assert alone.error is None, alone.error
            runner.add(request(1, words[:150], logit_bias=no_eos))
            while not runner.prefill(1, 64):
                pass
            active, stopped = [0, 1], []
            for _ in range(200):
                if not active:
                    break
                for result in runner.step(active):
                    if result.error is not None:
                        stopped.append(result)
                        active.remove(result.seq_id)
                        runner.remove(result.seq_id)
                if len(stopped) == 1:
                    # the survivor steps on into the freed cells
                    (after,) = runner.step(active)
                    assert after.error is None, after.error
                    return stopped, engine.used_cells
            return stopped, engine.used_cells
        finally:
            runner.close()

    stopped, used = on_worker(small_context, job)
    assert [r.seq_id for r in stopped] == [0], stopped
    assert isinstance(stopped[0].error, DecodeError)
    assert "KV cells are full" in str(stopped[0].error) and "generated the most" in str(stopped[0].error)
    assert used <= engine.n_ctx


def test_a_prompt_that_does_not_fit_the_cells_left_waits_for_them(small_context: Any) -> None:
    """Through the scheduler: a long prompt arriving while another stream holds most of the
    shared cells is served once they are free, not failed."""
    no_eos = {eos: -100.0 for eos in small_context.tokenizer.eos_token_ids}
    words = small_context.tokenizer.encode("word " * 300)

    def tokens(prompt: list[int], max_tokens: int) -> Any:
        return lmstream.generate_tokens(lmstream.LMInput(tokens=tuple(prompt)), context=small_context,
                                        parameters={"max_tokens": max_tokens, "logit_bias": no_eos})

    hog = iter(tokens(words[:20], 10_000))
    for _ in range(60):  # the hog holds ~80 of the 256 cells
        next(hog)
    late = list(tokens(words[:200], 4))  # its 200 tokens do not fit the ~176 left
    rest = list(hog)
    assert sum(isinstance(e, lmstream.Token) for e in late) == 4, late
    assert isinstance(late[-1], lmstream.Info) and late[-1].stop_reason == "length", late[-1]
    assert isinstance(rest[-1], lmstream.Info) and rest[-1].stop_reason == "length"  # its own context limit


def test_max_kv_size_shifts_the_context(small_context: Any) -> None:
    """A 64-token window on a 256-cell context: generation runs past the window (llama.cpp's
    context shift), the tokens before the first shift are the unshifted ones, and a shifted
    sequence leaves its prompt cache empty (its entries no longer match a token prefix)."""
    import lmstream

    no_eos = {eos: -100.0 for eos in small_context.tokenizer.eos_token_ids}
    prompt = "Once upon a time"
    plain = small_context.generate(prompt, max_tokens=20, logit_bias=no_eos)
    cache = small_context.new_cache()
    shifted = small_context.generate(prompt, max_tokens=80, max_kv_size=64, logit_bias=no_eos,
                                     cache=cache)
    assert shifted.info.stop_reason is lmstream.StopReason.LENGTH
    assert shifted.generated_tokens == 80
    assert len(small_context.prepare(prompt).tokens) + 20 < 64  # no shift within 20 tokens
    assert shifted.text.startswith(plain.text)
    assert small_context.worker.call(lambda: cache.tokens) == []
    model = small_context.backend_model
    with pytest.raises(ValueError, match="max_kv_size must be between"):
        model.validate([1, 2], GenerationParameters(max_kv_size=3))
    with pytest.raises(ValueError, match="larger than the prompt"):
        model.validate(list(range(40)), GenerationParameters(max_kv_size=32))
