"""MlxBatchRunner against the BatchRunner contract, on the tiny model: batched rows decode as alone,
caches hold exactly the fed ids, subsets and removals at any step, per-row sampling/logprobs/errors."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import mlx.core as mx
import pytest
from helpers import run_alone
from hypothesis import given, settings
from hypothesis import strategies as st

from lmstream.model import GenerationControl, SequenceRequest, StepResult
from lmstream.protocol import GenerationParameters

VOCAB = 268


@pytest.fixture(scope="module")
def exact_context(tiny_gguf: Path) -> Iterator[Any]:
    """The tiny model with mlx's own kernels only (no BLAS, no split): a row's arithmetic is the
    same whether it is decoded alone or in a batch, so tokens must match exactly."""
    import lmstream

    context = lmstream.load(str(tiny_gguf), backend="mlx", blas=False, cpu_streams=1)
    yield context
    context.close()


def request(seq_id: int, prompt: list[int], cache: Any = None, **parameters: Any) -> SequenceRequest:
    return SequenceRequest(seq_id, tuple(prompt), GenerationParameters(**parameters), cache,
                           GenerationControl(threading.Event()))


def on_worker(context: Any, job: Any) -> Any:
    return context.worker.call(job)


def alone(context: Any, prompt: list[int], take: int, **parameters: Any) -> list[int]:
    out, _ = run_alone(context, prompt, take=take, **parameters)
    return out


def drive(context: Any, requests: list[SequenceRequest], takes: dict[int, int],
          pause: dict[int, set[int]] | None = None, chunk: int = 3) -> dict[int, list[StepResult]]:
    """Add every request, prefill in chunks, step until each took its count, remove each when done.

    ``pause[step]`` lists sequences left out of that step (a consumer that does not read).
    """
    def job() -> dict[int, list[StepResult]]:
        runner = context.backend_model.new_batch_runner()
        out: dict[int, list[StepResult]] = {r.seq_id: [] for r in requests}
        for r in requests:
            runner.add(r)
        ready: set[int] = set()
        step = 0
        while any(len(out[i]) < takes[i] for i in out):
            for r in requests:
                if r.seq_id not in ready and runner.prefill(r.seq_id, chunk):
                    ready.add(r.seq_id)
            ids = [i for i in sorted(ready) if len(out[i]) < takes[i] and i not in (pause or {}).get(step, set())]
            if ids:
                for result in runner.step(ids):
                    out[result.seq_id].append(result)
                    if len(out[result.seq_id]) == takes[result.seq_id]:
                        runner.remove(result.seq_id)
            step += 1
        runner.close()
        return out

    return on_worker(context, job)  # type: ignore[no-any-return]


prompts = st.lists(st.integers(3, VOCAB - 1), min_size=1, max_size=14)


@settings(max_examples=12, deadline=None)
@given(rows=st.lists(st.tuples(prompts, st.integers(1, 7)), min_size=2, max_size=5),
       paused=st.dictionaries(st.integers(0, 8), st.sets(st.integers(0, 4), max_size=2), max_size=3))
def test_batched_rows_decode_as_alone_and_caches_hold_the_fed_ids(
        exact_context: Any, rows: list[tuple[list[int], int]], paused: dict[int, set[int]]) -> None:
    caches = [exact_context.new_cache() for _ in rows]
    requests = [request(i, prompt, caches[i]) for i, (prompt, _) in enumerate(rows)]
    results = drive(exact_context, requests, {i: take for i, (_, take) in enumerate(rows)}, paused)
    for i, (prompt, take) in enumerate(rows):
        tokens = [r.token for r in results[i]]
        assert all(r.error is None for r in results[i])
        assert tokens == alone(exact_context, prompt, take)
        # the last sampled id is fed only when the row's last step was a lone (pipelined) one
        assert caches[i].tokens in (prompt + tokens[:-1], prompt + tokens)
        assert all(layer.offset == len(caches[i].tokens) for layer in caches[i].layers)
        assert requests[i].control.prefilled_tokens == len(prompt)


def test_a_cached_prefix_is_reused_and_batching_keeps_turn_reuse(exact_context: Any) -> None:
    cache = exact_context.new_cache()
    first = drive(exact_context, [request(0, [10, 11, 12, 13], cache), request(1, [40, 41])], {0: 3, 1: 5})
    turn1 = [r.token for r in first[0]]
    prompt2 = [10, 11, 12, 13, *turn1[:-1], 50, 51]
    second = request(0, prompt2, cache)
    again = drive(exact_context, [second, request(1, [40, 41, 42])], {0: 4, 1: 2})
    assert second.control.cached_prompt_tokens == 4 + len(turn1) - 1
    assert [r.token for r in again[0]] == alone(exact_context, prompt2, 4)


def test_rows_that_cannot_batch_step_alone_in_the_same_call(exact_context: Any) -> None:
    specs = {0: {}, 1: {"max_kv_size": 64}, 2: {"kv_bits": 8, "kv_group_size": 32}, 3: {}}
    prompt = [20, 21, 22, 23, 24]
    requests = [request(i, prompt, **p) for i, p in specs.items()]
    results = drive(exact_context, requests, dict.fromkeys(specs, 5))
    for i, p in specs.items():
        assert [r.token for r in results[i]] == alone(exact_context, prompt, 5, **p)


def test_seeded_sampling_and_penalties_are_per_row(exact_context: Any) -> None:
    specs: dict[int, dict[str, Any]] = {
        0: {"temperature": 0.9, "seed": 7, "top_p": 0.9},
        1: {"temperature": 1.2, "seed": 8, "top_k": 20, "min_p": 0.05},
        2: {"repetition_penalty": 1.5, "logit_bias": {42: 5.0}},
        3: {"temperature": 0.0, "presence_penalty": 0.5, "frequency_penalty": 0.5},
    }
    prompt = [30, 31, 32]
    results = drive(exact_context, [request(i, prompt, **p) for i, p in specs.items()], dict.fromkeys(specs, 6))
    for i, p in specs.items():
        assert [r.token for r in results[i]] == alone(exact_context, prompt, 6, **p)


def test_logprobs_and_top_logprobs_per_row(exact_context: Any) -> None:
    requests = [request(0, [30, 31], logprobs=True, top_logprobs=3), request(1, [30, 31]),
                request(2, [30, 31], logprobs=True, temperature=1.0, seed=3)]
    results = drive(exact_context, requests, dict.fromkeys(range(3), 4))
    for r in results[0]:
        assert r.top_logprobs is not None and len(r.top_logprobs) == 3
        values = [v for _, v in r.top_logprobs]
        assert values == sorted(values, reverse=True) and all(v <= 0 for v in values)
        assert r.top_logprobs[0] == (r.token, r.logprob)  # greedy takes the most likely id
    assert all(r.logprob is None and r.top_logprobs is None for r in results[1])
    assert all(r.logprob is not None and r.logprob <= 0 and r.top_logprobs is None for r in results[2])
    assert [r.token for r in results[0]] == [r.token for r in results[1]]


def test_an_error_in_one_rows_sampling_fails_only_that_row(exact_context: Any) -> None:
    def job() -> list[list[StepResult]]:
        runner = exact_context.backend_model.new_batch_runner()
        for i in range(3):
            runner.add(request(i, [30, 31, 32]))
            assert runner.prefill(i, 8)

        def broken(logprobs: mx.array) -> mx.array:
            raise RuntimeError("sampler broke")

        runner._rows[1].setup.sampler = broken
        steps = [runner.step([0, 1, 2])]
        runner.remove(1)
        steps.append(runner.step([0, 2]))
        runner.close()
        return steps

    first, second = on_worker(exact_context, job)
    assert isinstance(first[1].error, RuntimeError) and first[1].token == -1
    assert first[0].error is None and first[2].error is None and first[0].token == first[2].token
    expected = alone(exact_context, [30, 31, 32], 2)
    assert [first[0].token, second[0].token] == [first[2].token, second[1].token] == expected


def test_removing_mid_prefill_reports_the_tokens_prefilled(exact_context: Any) -> None:
    def job() -> tuple[GenerationControl, list[int]]:
        runner = exact_context.backend_model.new_batch_runner()
        cache = exact_context.new_cache()
        r = request(0, list(range(10, 40)), cache)
        runner.add(r)
        runner.add(request(1, [5, 6]))
        assert runner.prefill(1, 4)
        assert not runner.prefill(0, 8)
        runner.step([1])
        assert not runner.prefill(0, 8)
        runner.remove(0)
        runner.step([1])
        runner.close()
        return r.control, cache.tokens

    control, tokens = on_worker(exact_context, job)
    assert control.prefilled_tokens == 16 and tokens == list(range(10, 26))


@pytest.mark.parametrize(("bad", "message"), [
    ({"prompt": [VOCAB]}, "prompt token ids outside"), ({"prompt": []}, "empty"), ({"top_k": VOCAB}, "top_k="),
    ({"logit_bias": {VOCAB + 1: 1.0}}, "logit_bias token ids"), ({"kv_bits": 4, "kv_group_size": 48}, "kv_group_size")])
def test_bad_input_raises_at_validate_and_add(exact_context: Any, bad: dict[str, Any], message: str) -> None:
    prompt = bad.pop("prompt", [5, 6])
    parameters = GenerationParameters(temperature=1.0, **bad)
    with pytest.raises(ValueError, match=message):
        exact_context.backend_model.validate(prompt, parameters)
    runner = on_worker(exact_context, exact_context.backend_model.new_batch_runner)
    with pytest.raises(ValueError, match=message):
        on_worker(exact_context, lambda: runner.add(SequenceRequest(
            0, tuple(prompt), parameters, None, GenerationControl(threading.Event()))))


def test_default_speed_paths_batch_close_to_alone(tiny_context: Any) -> None:
    """With BLAS for multi-row products, batched rows may differ from alone in the last bits;
    on the tiny model greedy tokens still agree."""
    prompts = [[30, 31, 32], [40, 41], [50, 51, 52, 53], [60]]
    results = drive(tiny_context, [request(i, p) for i, p in enumerate(prompts)], dict.fromkeys(range(4), 6))
    matches = sum([r.token for r in results[i]] == alone(tiny_context, p, 6) for i, p in enumerate(prompts))
    assert matches >= 3
