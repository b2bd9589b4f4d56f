"""One sequence alone through the mlx runner (a single stream: the pipelined one-row path) on
the tiny model: cache reuse and sync, prefill, cancel, sampling, KV kinds."""

from __future__ import annotations

import threading
from typing import Any

import pytest
from helpers import run_alone
from hypothesis import given, settings
from hypothesis import strategies as st
from mlx_lm.models.cache import QuantizedKVCache, RotatingKVCache

from lmstream.model import PromptCache, common_prefix_length

VOCAB = 268
prompts = st.lists(st.integers(3, VOCAB - 1), min_size=1, max_size=24)


def new_cache(context: Any) -> Any:
    cache = context.new_cache()
    assert isinstance(cache, PromptCache)
    return cache


@settings(max_examples=25, deadline=None)
@given(prompt=prompts, take=st.integers(1, 12), limit=st.sampled_from([None, 4, 12]))
def test_cache_tokens_match_the_kv_after_close(tiny_context: Any, prompt: list[int], take: int,
                                               limit: int | None) -> None:
    cache = new_cache(tiny_context)
    out, _ = run_alone(tiny_context, prompt, take=take, cache=cache, max_tokens=limit)
    # the numpy layers' lone steps are not pipelined: the last sampled token is never fed
    assert cache.tokens == prompt + out[:-1]
    assert all(layer.offset == len(cache.tokens) for layer in cache.layers)


@settings(max_examples=15, deadline=None)
@given(prompt=st.lists(st.integers(3, VOCAB - 1), min_size=2, max_size=24), split=st.integers(1, 23),
       step=st.integers(1, 8))
def test_output_is_the_same_however_the_prompt_is_prefilled(tiny_exact_context: Any, prompt: list[int],
                                                            split: int, step: int) -> None:
    context = tiny_exact_context
    fresh, _ = run_alone(context, prompt, take=6)
    chunked, _ = run_alone(context, prompt, take=6, prefill_step_size=step)
    cache = new_cache(context)
    run_alone(context, prompt[:min(split, len(prompt) - 1)], take=1, cache=cache)
    expected_reuse = min(common_prefix_length(cache.tokens, prompt), len(prompt) - 1)
    reused, control = run_alone(context, prompt, take=6, cache=cache)
    assert fresh == chunked == reused
    assert control.cached_prompt_tokens == expected_reuse >= min(split, len(prompt) - 1)


def test_diverging_prompt_trims_to_the_common_prefix(tiny_context: Any) -> None:
    cache = new_cache(tiny_context)
    run_alone(tiny_context, [10, 11, 12, 13, 14], take=3, cache=cache)
    out, control = run_alone(tiny_context, [10, 11, 12, 99, 98], take=2, cache=cache)
    assert control.cached_prompt_tokens == 3 and control.prefilled_tokens == 2
    assert cache.tokens == [10, 11, 12, 99, 98, *out[:-1]]  # the last token was never fed
    same, control = run_alone(tiny_context, [10, 11, 12, 99, 98], take=2, cache=cache)
    assert same == out and control.cached_prompt_tokens == 4  # one prompt token is always prefilled


def test_cancel_mid_prefill_keeps_a_consistent_cache(tiny_context: Any) -> None:
    cache = new_cache(tiny_context)
    prompt = list(range(20, 50))
    progress: list[tuple[int, int]] = []
    out, control = run_alone(tiny_context, prompt, take=5, cache=cache, prefill_step_size=4,
                                on_progress=lambda d, t: progress.append((d, t)))
    assert progress[0] == (0, 30) and progress[-1] == (30, 30)
    # the last chunk (numpy layers) feeds the last prompt token too and samples the first token
    assert [d for d, _ in progress[1:-1]] == [*range(4, 29, 4), 30]

    cache = new_cache(tiny_context)
    seen: list[int] = []
    cancel = threading.Event()

    def cancel_at_8(done: int, total: int) -> None:
        seen.append(done)
        if done >= 8:
            cancel.set()

    result, control = run_alone(tiny_context, prompt, take=5, cache=cache, prefill_step_size=4,
                                   on_progress=cancel_at_8, cancel=cancel)
    assert result == [] and seen == [0, 4, 8] and control.prefilled_tokens == 8
    assert cache.tokens == prompt[:8]
    again, control = run_alone(tiny_context, prompt, take=5, cache=cache)
    assert again == out and control.cached_prompt_tokens == 8


def test_seed_makes_sampling_reproducible(tiny_context: Any) -> None:
    prompt = [30, 31, 32]
    a, _ = run_alone(tiny_context, prompt, take=20, temperature=1.5, seed=7)
    b, _ = run_alone(tiny_context, prompt, take=20, temperature=1.5, seed=7)
    c, _ = run_alone(tiny_context, prompt, take=20, temperature=1.5, seed=8)
    assert a == b and a != c
    filtered, _ = run_alone(tiny_context, prompt, take=10, temperature=1.0, seed=1, top_k=1)
    greedy, _ = run_alone(tiny_context, prompt, take=10)
    assert filtered == greedy


def test_logit_bias_and_penalties(tiny_context: Any) -> None:
    forced, _ = run_alone(tiny_context, [30, 31], take=5, logit_bias={42: 1000.0})
    assert forced == [42] * 5
    penalized, _ = run_alone(tiny_context, [30, 31], take=5, logit_bias={42: 30.0},
                                frequency_penalty=1000.0)
    assert penalized.count(42) <= 2  # a forced token is pushed away once it repeats
    with pytest.raises(ValueError, match="logit_bias"):
        run_alone(tiny_context, [30], take=1, logit_bias={VOCAB + 5: 1.0})


def test_rotating_and_quantized_kv_caches(tiny_context: Any) -> None:
    cache = new_cache(tiny_context)
    out, _ = run_alone(tiny_context, [40, 41, 42], take=40, cache=cache, max_kv_size=16)
    assert len(out) == 40 and all(isinstance(c, RotatingKVCache) for c in cache.layers)
    assert cache.tokens == [40, 41, 42, *out]
    _, control = run_alone(tiny_context, [40, 41, 7], take=2, cache=cache, max_kv_size=16)
    assert control.cached_prompt_tokens == 0  # a rotated cache cannot be trimmed: started afresh

    cache = new_cache(tiny_context)
    out, _ = run_alone(tiny_context, list(range(50, 80)), take=5, cache=cache, kv_bits=4,
                          kv_group_size=32, quantized_kv_start=8)
    assert all(isinstance(c, QuantizedKVCache) for c in cache.layers)
    _, control = run_alone(tiny_context, list(range(50, 70)), take=2, cache=cache, kv_bits=4,
                              kv_group_size=32, quantized_kv_start=8)
    assert control.cached_prompt_tokens == 19
    _, control = run_alone(tiny_context, list(range(50, 70)), take=1, cache=cache)
    assert control.cached_prompt_tokens == 0  # another cache layout: started afresh


def test_memory_figures_and_no_leak_without_a_cache(tiny_context: Any) -> None:
    run_alone(tiny_context, list(range(10, 40)), take=4)
    from lmstream_mlx import memory

    before = tiny_context.worker.call(memory.active_bytes)
    _, control = run_alone(tiny_context, list(range(10, 40)), take=4)
    figures = control.memory
    assert figures["weights_bytes"] == tiny_context.backend_model.weights_bytes > 0
    assert 0 < figures["kv_cache_used_bytes"] <= figures["kv_cache_allocated_bytes"]
    assert figures["peak_bytes"] >= figures["after_prefill_bytes"] >= figures["baseline_bytes"]
    assert tiny_context.worker.call(memory.active_bytes) == before


def test_bad_inputs_raise(tiny_context: Any) -> None:
    with pytest.raises(ValueError, match="empty"):
        run_alone(tiny_context, [], take=1)
    with pytest.raises(ValueError, match="outside the vocabulary"):
        run_alone(tiny_context, [VOCAB + 1], take=1)
    with pytest.raises(ValueError, match="top_k"):
        run_alone(tiny_context, [5], take=1, temperature=1.0, top_k=VOCAB)

    class Foreign(PromptCache):
        @property
        def tokens(self) -> list[int]:
            return []

        def trim(self, count: int) -> int:
            return 0

    with pytest.raises(TypeError, match="new_cache"):
        run_alone(tiny_context, [5], take=1, cache=Foreign())


@pytest.mark.parametrize("options", [{"cpu_streams": 1}, {"cpu_streams": 3}, {"compile": True},
                                     {"dtype": "float32", "cpu_streams": 2}])
def test_speed_options_keep_the_output(tiny_gguf: Any, tiny_context: Any, options: dict[str, Any]) -> None:
    import lmstream

    reference, _ = run_alone(tiny_context, [30, 31, 32, 33], take=8)
    with lmstream.load(str(tiny_gguf), backend="mlx", **options) as other:
        out, _ = run_alone(other, [30, 31, 32, 33], take=8)
        assert other.backend_model.weights_bytes > 0
    if "dtype" not in options:  # same arithmetic: identical tokens
        assert out == reference
    else:
        assert len(out) == 8
