"""The CPU numpy paths (cpu_attention.py, cpu_layers.py, one-row BLAS in speed.py): they compute
what mlx's kernels compute (to float32 precision), keep mlx-lm's KVCache semantics, and are
applied on CPU only."""

from __future__ import annotations

from typing import Any

import mlx.core as mx
import mlx.nn as nn
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from mlx_lm.models import llama
from mlx_lm.models.cache import BatchKVCache, KVCache, QuantizedKVCache

from lmstream_mlx.blas_scope import model_call
from lmstream_mlx.cpu_attention import NumpyKVCache, adopt, attend
from lmstream_mlx.cpu_decoder import CpuLlamaLayer, rms_norm
from lmstream_mlx.cpu_layers import CpuLlamaAttention, CpuLlamaMLP, rope_numpy
from lmstream_mlx.options import MlxOptions
from lmstream_mlx.speed import FAST_ATTRIBUTE, apply_speed_plan, speed_up


def tiny_llama(bias: bool = False, quantized: bool = True, layers: int = 2) -> nn.Module:
    """A small random mlx-lm llama model (grouped-query attention, tied head)."""
    args = llama.ModelArgs(model_type="llama", hidden_size=128, num_hidden_layers=layers, intermediate_size=256,
                           num_attention_heads=4, rms_norm_eps=1e-5, vocab_size=300, num_key_value_heads=2,
                           attention_bias=bias, mlp_bias=bias, rope_traditional=True, rope_theta=10000.0)
    model = llama.Model(args)
    if quantized:
        nn.quantize(model, group_size=32, bits=4, class_predicate=lambda _, m: isinstance(m, nn.Linear))
    mx.eval(model.parameters())
    return model


@settings(max_examples=25, deadline=None)
@given(length=st.integers(1, 40), offset=st.integers(0, 60), kv_heads=st.sampled_from([1, 2, 3]),
       repeat=st.sampled_from([1, 3]))
def test_attend_matches_mlx_sdpa(length: int, offset: int, kv_heads: int, repeat: int) -> None:
    heads, dim, total = kv_heads * repeat, 16, offset + length
    key = mx.random.key(length * 1000 + offset)
    q = mx.random.normal((1, heads, length, dim), key=key)
    k = mx.random.normal((1, kv_heads, total, dim), key=mx.random.split(key)[0])
    v = mx.random.normal((1, kv_heads, total, dim), key=mx.random.split(key)[1])
    expected = mx.fast.scaled_dot_product_attention(q, k, v, scale=dim**-0.5, mask="causal" if length > 1 else None)
    expected_np = np.array(expected[0].transpose(1, 0, 2).reshape(length, heads * dim))
    got = attend(np.array(q[0]), np.array(k[0]), np.array(v[0]), dim**-0.5)
    np.testing.assert_allclose(got, expected_np, atol=2e-5, rtol=1e-4)


@pytest.mark.parametrize("traditional", [False, True])
@pytest.mark.parametrize("offset", [0, 7, 1500])
def test_numpy_rope_matches_mlx_rope(traditional: bool, offset: int) -> None:
    rope = nn.RoPE(64, traditional=traditional, base=100000.0)
    x = mx.random.normal((3, 5, 64), key=mx.random.key(offset))
    expected = np.array(rope(x[None], offset=offset)[0])
    np.testing.assert_allclose(rope_numpy(np.array(x), offset, rope), expected, atol=2e-4, rtol=1e-4)


def test_numpy_kv_cache_keeps_kvcache_semantics() -> None:
    cache = NumpyKVCache()
    assert cache.empty() and cache.nbytes == 0 and cache.is_trimmable() and cache.offset == 0
    rng = np.random.default_rng(0)
    k1, v1 = rng.standard_normal((2, 200, 32), dtype=np.float32), rng.standard_normal((2, 200, 32), dtype=np.float32)
    held_k, _ = cache.append(k1, v1)
    assert cache.offset == 200 and cache.capacity == 256 and held_k.shape == (2, 200, 32)
    assert cache.nbytes == 2 * 2 * 256 * 32 * 4
    buffer = cache._k
    cache.append(k1[:, :50], v1[:, :50])  # 250 <= 256: written in place, no new buffer
    assert cache.offset == 250 and cache._k is buffer
    cache.append(k1[:, :10], v1[:, :10])  # 260 > 256: capacity doubles
    assert cache.capacity == 512 and cache.offset == 260
    assert cache.trim(60) == 60 and cache.offset == 200
    keys, _values, offset = cache.state
    assert keys.shape == (1, 2, 512, 32) and offset == 200
    np.testing.assert_array_equal(np.array(keys[0, :, :200]), k1)
    np.testing.assert_array_equal(np.array(cache.keys_and_values()[1][0]), v1)
    quantized = cache.to_quantized(group_size=32, bits=8)
    assert isinstance(quantized, QuantizedKVCache) and quantized.offset == 200
    other = NumpyKVCache()
    other.state = cache.state  # a fork through the state setter
    assert other.offset == 200 and other.capacity == 512
    np.testing.assert_array_equal(other._k, cache._k)


def test_plain_cache_is_adopted_with_its_entries_and_merges_into_a_batch() -> None:
    plain = KVCache()
    k = mx.random.normal((1, 2, 5, 8), key=mx.random.key(1))
    plain.update_and_fetch(k, k + 1)
    adopted = adopt(plain, mx.float16)
    assert adopted is plain and isinstance(plain, NumpyKVCache) and plain.offset == 5
    np.testing.assert_allclose(np.array(plain.keys_and_values()[0].astype(mx.float32)), np.array(k), atol=1e-2)
    batch = BatchKVCache.merge([plain, adopt(KVCache(), mx.float16)])
    assert batch.keys.shape[0] == 2 and batch.size() == 5


@pytest.mark.parametrize("bias", [False, True])
@pytest.mark.parametrize("quantized", [False, True])
def test_numpy_blocks_match_mlx_prefill_and_decode(bias: bool, quantized: bool) -> None:
    model = tiny_llama(bias, quantized)
    reference_cache = [KVCache() for _ in model.layers]
    ids = mx.array([[1, 5, 9, 200, 7, 8, 3]])
    expected = [model(ids, cache=reference_cache), model(mx.array([[11]]), cache=reference_cache)]
    plan = speed_up(model, 1, mx.cpu, blas=True, one_row=True, blocks=True)
    assert plan.cpu_blocks == 4 and plan.blas_one_row
    assert isinstance(model.layers[0].self_attn, CpuLlamaAttention) and isinstance(model.layers[0].mlp, CpuLlamaMLP)
    assert plan.cpu_layers == 2 and isinstance(model.layers[0], CpuLlamaLayer)
    cache = [KVCache() for _ in model.layers]
    with model_call(1):
        got = [model(ids[:, :4], cache=cache), model(ids[:, 4:], cache=cache), model(mx.array([[11]]), cache=cache)]
    assert all(isinstance(c, NumpyKVCache) and c.offset == 8 for c in cache)
    assert mx.allclose(mx.concatenate(got[:2], axis=1), expected[0], atol=2e-3).item()
    assert mx.allclose(got[2], expected[1], atol=2e-3).item()


def test_fused_weights_are_shared_not_copied() -> None:
    model = tiny_llama()
    unfused = speed_up(tiny_llama(), 1, mx.cpu, blas=True)
    plan = speed_up(model, 1, mx.cpu, blas=True, one_row=True, blocks=True)
    assert plan.blas_bytes == unfused.blas_bytes  # the fused matrices replace the copies
    attention = model.layers[0].self_attn
    fused = attention._lmstream_fused
    for name in ("q_proj", "k_proj", "v_proj"):
        assert np.shares_memory(getattr(attention[name], FAST_ATTRIBUTE).dense, fused.first)


def test_output_head_stays_lazy_in_a_prefill_call() -> None:
    model = tiny_llama()
    speed_up(model, 1, mx.cpu, blas=True, one_row=True, blocks=True)
    head = getattr(model.model.embed_tokens, FAST_ATTRIBUTE)
    x = mx.random.normal((1, 3, 128))
    assert head.matmul(x) is not None  # BLAS
    with model_call(1, prefill=True):
        assert head.matmul(x) is None  # the layer's own lazy product: never evaluated in a prefill


def test_cpu_paths_are_cpu_only_and_can_be_turned_off() -> None:
    on_cpu = apply_speed_plan(tiny_llama(), MlxOptions(cpu_streams=1), mx.Device(mx.cpu))
    assert on_cpu.cpu_blocks == 4 and on_cpu.blas_one_row
    old = apply_speed_plan(tiny_llama(), MlxOptions(cpu_streams=1, blas_one_row=False, cpu_blocks=False),
                           mx.Device(mx.cpu))
    assert old.cpu_blocks == 0 and not old.blas_one_row and old.blas_layers > 0
    off_cpu = apply_speed_plan(tiny_llama(), MlxOptions(), mx.Device(mx.gpu))
    assert off_cpu.cpu_blocks == 0 and off_cpu.blas_layers == 0 and not off_cpu.blas_one_row
    with pytest.raises(TypeError, match="cpu_blocks"):
        MlxOptions.parse({"cpu_blocks": "yes"})


def test_batched_rows_fall_back_to_mlx_attention() -> None:
    model: Any = tiny_llama()
    caches = [KVCache() for _ in model.layers]
    ids = mx.array([[1, 5, 9], [4, 6, 8]])
    expected = model(ids, cache=caches)
    speed_up(model, 1, mx.cpu, blas=True, one_row=True, blocks=True)
    batch = [KVCache() for _ in model.layers]
    got = model(ids, cache=batch)  # two rows: mlx-lm's attention, BLAS products
    assert all(type(c) is KVCache for c in batch)
    assert mx.allclose(got, expected, atol=2e-3).item()


def test_other_rotary_embeddings_run_through_their_own_module() -> None:
    from lmstream_mlx.gguf import FrequencyRoPE

    model = tiny_llama()
    for layer in model.layers:
        layer.self_attn.rope = FrequencyRoPE(32, 10000.0, mx.array([1.0, 2.0, 4.0, 8.0] * 4))
    ids = mx.array([[3, 1, 4, 1, 5, 9]])
    expected = model(ids, cache=[KVCache() for _ in model.layers])
    speed_up(model, 1, mx.cpu, blas=True, one_row=True, blocks=True)
    got = model(ids, cache=[KVCache() for _ in model.layers])
    assert mx.allclose(got, expected, atol=2e-3).item()


def test_numpy_rms_norm_matches_mlx() -> None:
    norm = nn.RMSNorm(64, eps=1e-5)
    norm.weight = mx.random.normal((64,), key=mx.random.key(5))
    x = mx.random.normal((7, 64), key=mx.random.key(6)) * 3
    np.testing.assert_allclose(rms_norm(np.array(x), np.array(norm.weight), 1e-5), np.array(norm(x)),
                               atol=1e-5, rtol=1e-5)


def test_numpy_layers_keep_mlx_lm_dtypes_and_skip_evaluation_between_layers() -> None:
    model = tiny_llama(layers=3)
    model.model.embed_tokens.weight = model.model.embed_tokens.weight.astype(mx.float16)  # float32 norms
    ids = mx.array([[3, 1, 4, 1, 5]])
    expected = model.model(ids, cache=[KVCache() for _ in model.layers])
    speed_up(model, 1, mx.cpu, blas=True, one_row=True, blocks=True)
    calls = []
    import lmstream_mlx.cpu_decoder as decoder

    original = decoder.to_numpy
    decoder.to_numpy = lambda x: calls.append(x.dtype) or original(x)  # type: ignore[assignment]
    try:
        got = model.model(ids, cache=[KVCache() for _ in model.layers])
    finally:
        decoder.to_numpy = original  # type: ignore[assignment]
    assert got.dtype == expected.dtype == mx.float32
    assert calls == [mx.float16]  # only the embedding output is evaluated and handed over
    assert mx.allclose(got, expected, atol=2e-3).item()


@pytest.mark.parametrize(("length", "offset"), [(150, 0), (130, 77), (64, 5)])
def test_attend_in_query_blocks_matches_mlx_sdpa(length: int, offset: int) -> None:
    heads, kv_heads, dim, total = 6, 2, 16, offset + length
    q = mx.random.normal((1, heads, length, dim), key=mx.random.key(1))
    k = mx.random.normal((1, kv_heads, total, dim), key=mx.random.key(2))
    v = mx.random.normal((1, kv_heads, total, dim), key=mx.random.key(3))
    expected = mx.fast.scaled_dot_product_attention(q, k, v, scale=dim**-0.5, mask="causal")
    expected_np = np.array(expected[0].transpose(1, 0, 2).reshape(length, heads * dim))
    got = attend(np.array(q[0]), np.array(k[0]), np.array(v[0]), dim**-0.5)
    np.testing.assert_allclose(got, expected_np, atol=2e-5, rtol=1e-4)
