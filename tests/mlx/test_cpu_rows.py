"""Batched decode steps on the CPU numpy layers: each row keeps its own KV cache (``RowCaches``),
attention runs over the rows' ragged lengths in one padded product, and a few rows multiply
block by block (``rows_product``); each row computes what it computes alone (to float32
precision) and the batch runner never merges the rows into a ``BatchKVCache``. Verification's
ragged calls (several tokens per row, ``RowCaches.counts`` real) compute each row as alone and
store only the real tokens in each row's cache."""

from __future__ import annotations

import functools
import threading
from typing import Any

import mlx.core as mx
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from mlx_lm.models.cache import KVCache
from test_cpu_blocks import tiny_llama

from lmstream.model import GenerationControl, SequenceRequest
from lmstream.protocol import GenerationParameters
from lmstream_mlx.blas_scope import model_call
from lmstream_mlx.cpu_attention import (
    NumpyKVCache,
    RowCaches,
    attend,
    attend_rows,
    attend_rows_many,
    row_caches,
)
from lmstream_mlx.cpu_decoder import serves_rows
from lmstream_mlx.cpu_layers import SMALL_ROWS, rows_product
from lmstream_mlx.speed import speed_up


@settings(max_examples=25, deadline=None)
@given(lengths=st.lists(st.integers(1, 50), min_size=1, max_size=9), kv_heads=st.sampled_from([1, 3]),
       repeat=st.sampled_from([1, 3]))
def test_attend_rows_matches_each_row_alone(lengths: list[int], kv_heads: int, repeat: int) -> None:
    rng = np.random.default_rng(len(lengths))
    heads, dim = kv_heads * repeat, 16
    queries = rng.standard_normal((len(lengths), heads, dim), dtype=np.float32)
    held = [(rng.standard_normal((kv_heads, n, dim), dtype=np.float32),
             rng.standard_normal((kv_heads, n, dim), dtype=np.float32)) for n in lengths]
    got = attend_rows(queries, held, 0.25)
    for row, (keys, values) in enumerate(held):
        alone = attend(queries[row][:, None], keys, values, 0.25)
        np.testing.assert_allclose(got[row], alone[0], rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("rows", [1, 2, 8, SMALL_ROWS, SMALL_ROWS + 1])
@pytest.mark.parametrize("shape", [(300, 40), (2000, 24), (7, 500)])
def test_rows_product_is_the_plain_product(rows: int, shape: tuple[int, int]) -> None:
    rng = np.random.default_rng(rows)
    weight = rng.standard_normal(shape, dtype=np.float32)
    x = rng.standard_normal((rows, shape[1]), dtype=np.float32)
    got = rows_product(x, weight)
    assert got.shape == (rows, shape[0]) and got.dtype == np.float32
    np.testing.assert_allclose(got, x @ weight.T, rtol=1e-4, atol=1e-4)


def test_a_rows_call_computes_each_row_as_alone_and_appends_to_its_own_cache() -> None:
    model: Any = tiny_llama(layers=3)
    speed_up(model, 1, mx.cpu, blas=True, one_row=True, blocks=True)
    assert serves_rows(model)
    prompts = [[1, 5, 9, 200, 7], [4, 6], [8, 3, 2]]
    alone_caches, batch_caches = [], []
    for prompt in prompts:
        for caches in (alone_caches, batch_caches):
            layers = [KVCache() for _ in model.layers]
            with model_call(1, prefill=True):
                model(mx.array([prompt]), cache=layers)
            caches.append(layers)
    batch_caches.append([KVCache() for _ in model.layers])  # a one-token prompt: nothing prefilled yet
    alone_caches.append([KVCache() for _ in model.layers])
    fed = [11, 12, 13, 14]
    with model_call(1):
        expected = [model(mx.array([[t]]), cache=c)[0, -1] for t, c in zip(fed, alone_caches, strict=True)]
        got = model(mx.array([[t] for t in fed]), cache=row_caches(batch_caches))[:, -1]
    for row, logits in enumerate(expected):
        assert mx.allclose(got[row], logits, atol=2e-3).item()
    for row, prompt in enumerate([*prompts, []]):
        assert all(isinstance(c, NumpyKVCache) and c.offset == len(prompt) + 1 for c in batch_caches[row])
        np.testing.assert_allclose(np.array(batch_caches[row][0].keys_and_values()[0]),
                                   np.array(alone_caches[row][0].keys_and_values()[0]), atol=1e-4)


def test_a_rows_call_with_a_mask_other_than_causal_is_refused() -> None:
    model: Any = tiny_llama()
    assert not serves_rows(model)  # mlx-lm's own layers
    speed_up(model, 1, mx.cpu, blas=True, one_row=True, blocks=True)
    caches = RowCaches([KVCache(), KVCache()])
    x = model.model.embed_tokens(mx.array([[1, 2], [3, 4]]))
    with pytest.raises(TypeError, match="causal mask"):
        model.layers[0](x, mx.zeros((2, 2), dtype=mx.bool_), cache=caches)


def test_row_caches_need_one_positive_count_per_row() -> None:
    with pytest.raises(ValueError, match="one count >= 1 per row"):
        RowCaches([KVCache(), KVCache()], [2])
    with pytest.raises(ValueError, match="one count >= 1 per row"):
        RowCaches([KVCache(), KVCache()], [2, 0])


@settings(max_examples=25, deadline=None)
@given(shape=st.lists(st.tuples(st.integers(0, 30), st.integers(1, 6)), min_size=1, max_size=6),
       kv_heads=st.sampled_from([1, 3]), repeat=st.sampled_from([1, 3]))
def test_attend_rows_many_matches_each_row_alone(shape: list[tuple[int, int]], kv_heads: int, repeat: int) -> None:
    """Row ``r`` has ``cached`` keys then ``count`` new ones; its real queries equal ``attend``
    over its keys alone (causal), whatever the other rows' lengths and the padding."""
    rng = np.random.default_rng(len(shape) * 7 + kv_heads)
    heads, dim = kv_heads * repeat, 16
    length = max(count for _, count in shape)
    queries = rng.standard_normal((len(shape), heads, length, dim), dtype=np.float32)
    held = [(rng.standard_normal((kv_heads, cached + count, dim), dtype=np.float32),
             rng.standard_normal((kv_heads, cached + count, dim), dtype=np.float32)) for cached, count in shape]
    got = attend_rows_many(queries, held, [count for _, count in shape], 0.25)
    assert got.shape == (len(shape), length, heads * dim) and np.isfinite(got).all()
    for row, ((keys, values), (_, count)) in enumerate(zip(held, shape, strict=True)):
        alone = attend(queries[row][:, :count], keys, values, 0.25)
        np.testing.assert_allclose(got[row, :count], alone, rtol=1e-4, atol=1e-5)


@functools.cache
def _rows_model() -> Any:
    model: Any = tiny_llama(layers=2)
    speed_up(model, 1, mx.cpu, blas=True, one_row=True, blocks=True)
    return model


def _prefilled(model: Any, prompt: list[int]) -> list[KVCache]:
    layers = [KVCache() for _ in model.layers]
    if prompt:
        with model_call(1, prefill=True):
            mx.eval(model(mx.array([prompt]), cache=layers))
    return layers


@settings(max_examples=15, deadline=None)
@given(shape=st.lists(st.tuples(st.integers(0, 7), st.lists(st.integers(0, 299), min_size=1, max_size=6)),
                      min_size=1, max_size=5))
def test_a_ragged_rows_call_computes_each_row_as_alone_and_stores_only_its_tokens(
        shape: list[tuple[int, list[int]]]) -> None:
    """Row ``r`` (``cached`` prompt tokens) is fed its own tokens, padded to the longest row:
    its logits at every real position equal the row run alone, and its caches grow by exactly
    its real tokens (the padding never reaches them)."""
    model = _rows_model()
    prompts = [[(7 * r + 3 * i) % 300 for i in range(cached)] for r, (cached, _) in enumerate(shape)]
    fed = [tokens for _, tokens in shape]
    length = max(len(f) for f in fed)
    alone_caches = [_prefilled(model, p) for p in prompts]
    batch_caches = [_prefilled(model, p) for p in prompts]
    padded = [f + [f[-1]] * (length - len(f)) for f in fed]
    with model_call(1):
        expected = [model(mx.array([f]), cache=c)[0] for f, c in zip(fed, alone_caches, strict=True)]
        got = model(mx.array(padded), cache=row_caches(batch_caches, [len(f) for f in fed]))
        mx.eval(got, expected)
    for row, logits in enumerate(expected):
        np.testing.assert_allclose(np.array(got[row, :len(fed[row])]), np.array(logits), atol=2e-3)
    for row, (prompt, tokens) in enumerate(zip(prompts, fed, strict=True)):
        assert all(isinstance(c, NumpyKVCache) and c.offset == len(prompt) + len(tokens) for c in batch_caches[row])
        for mine, theirs in zip(batch_caches[row], alone_caches[row], strict=True):
            np.testing.assert_allclose(np.array(mine.keys_and_values()[1]), np.array(theirs.keys_and_values()[1]),
                                       atol=1e-4)


def test_a_trimmed_row_cache_continues_as_if_never_fed_the_tail() -> None:
    """Verification trims each row's rejected tail: the next call overwrites it in place."""
    model = _rows_model()
    trimmed, plain = _prefilled(model, [5, 6, 7]), _prefilled(model, [5, 6, 7])
    with model_call(1):
        mx.eval(model(mx.array([[8, 9, 10, 11], [1, 1, 1, 1]]),
                      cache=row_caches([trimmed, _prefilled(model, [])], [4, 1])))
        for layer in trimmed:
            layer.trim(2)
        mx.eval(model(mx.array([[8, 9]]), cache=plain))
        after = model(mx.array([[12, 13], [20, 21]]), cache=row_caches([trimmed, plain], [2, 2]))
        alone = model(mx.array([[12, 13]]), cache=_prefilled(model, [5, 6, 7, 8, 9]))
    np.testing.assert_allclose(np.array(after[0]), np.array(alone[0]), atol=2e-3)
    assert all(c.offset == 7 for c in trimmed)


def test_the_runner_steps_rows_on_their_own_caches(tiny_context: Any) -> None:
    """On the default CPU path no BatchKVCache is made: each row's prompt cache keeps its
    numpy caches while batched, and the rows still decode as alone on the tiny model."""
    parameters = GenerationParameters(max_tokens=6)
    prompts = [[30, 31, 32], [40, 41], [50, 51, 52, 53]]

    def job() -> tuple[list[list[int]], list[Any], Any]:
        runner = tiny_context.backend_model.new_batch_runner()
        for i, prompt in enumerate(prompts):
            runner.add(SequenceRequest(i, tuple(prompt), parameters, None, GenerationControl(threading.Event())))
            while not runner.prefill(i, 8):
                pass
        tokens: list[list[int]] = [[] for _ in prompts]
        for _ in range(6):
            for result in runner.step([0, 1, 2]):
                tokens[result.seq_id].append(int(result.token))
        layers = [runner._rows[i].cache.layers for i in range(3)]
        batch = runner._batch
        runner.close()
        return tokens, layers, batch

    tokens, layers, batch = tiny_context.worker.call(job)
    assert batch is None
    for prompt, row_layers in zip(prompts, layers, strict=True):
        assert all(isinstance(c, NumpyKVCache) and c.offset == len(prompt) + 5 for c in row_layers)
    from helpers import run_alone

    alone = [run_alone(tiny_context, p, take=6)[0] for p in prompts]
    assert sum(t == a for t, a in zip(tokens, alone, strict=True)) >= 2


def test_plain_greedy_rows_share_one_argmax_beside_rows_that_sample_alone(tiny_gguf: Any) -> None:
    """Plain greedy rows of a batched step take one numpy argmax; rows with logprobs, penalties or
    a temperature still sample on their own. On mlx's own kernels (``blas=False``: a row's
    arithmetic is the same batched or alone) every row's tokens equal its tokens alone."""
    from helpers import run_alone

    import lmstream

    context = lmstream.load(str(tiny_gguf), backend="mlx", blas=False, cpu_streams=1)
    try:
        prompts = [[30, 31, 32], [40, 41], [50, 51, 52, 53], [60, 61], [70]]
        settings_ = [{}, {}, {"logprobs": True}, {"repetition_penalty": 1.3}, {"temperature": 0.8, "seed": 3}]

        def job() -> list[list[int]]:
            runner = context.backend_model.new_batch_runner()
            for i, (prompt, extra) in enumerate(zip(prompts, settings_, strict=True)):
                runner.add(SequenceRequest(i, tuple(prompt), GenerationParameters(max_tokens=6, **extra), None,
                                           GenerationControl(threading.Event())))
                while not runner.prefill(i, 8):
                    pass
            tokens: list[list[int]] = [[] for _ in prompts]
            for _ in range(6):
                for result in runner.step(list(range(len(prompts)))):
                    assert result.error is None
                    tokens[result.seq_id].append(int(result.token))
            runner.close()
            return tokens

        tokens = context.worker.call(job)
        for prompt, extra, got in zip(prompts, settings_, tokens, strict=True):
            assert got == run_alone(context, prompt, take=6, **extra)[0]
    finally:
        context.close()
