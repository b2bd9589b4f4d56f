"""speed.py's fast paths: layers keep their class and weights (architectures that read
``embed_tokens.weight`` work), the row split is bit-identical, BLAS agrees to float32 precision."""

from __future__ import annotations

from typing import Any

import mlx.core as mx
import mlx.nn as nn
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from mlx.utils import tree_flatten

from lmstream_mlx.options import MlxOptions
from lmstream_mlx.speed import FAST_CLASSES, apply_speed_plan, speed_up


def seed_oss(quantized: bool) -> nn.Module:
    """A small random seed_oss model: its tied head computes ``h @ embed_tokens.weight.T``."""
    from mlx_lm.models.seed_oss import Model, ModelArgs

    args = ModelArgs(model_type="seed_oss", hidden_size=128, num_hidden_layers=2, intermediate_size=256,
                     num_attention_heads=4, rms_norm_eps=1e-5, vocab_size=300, num_key_value_heads=2,
                     head_dim=32, tie_word_embeddings=True)
    model = Model(args)
    if quantized:
        nn.quantize(model, group_size=32, bits=4, class_predicate=lambda _, m: isinstance(m, nn.Linear))
    mx.eval(model.parameters())
    return model


@pytest.mark.parametrize("quantized", [False, True])
@pytest.mark.parametrize("parts", [1, 2])
def test_models_reading_embed_tokens_weight_keep_working(quantized: bool, parts: int) -> None:
    model = seed_oss(quantized)
    before = {k: v.shape for k, v in tree_flatten(model.parameters())}
    ids = mx.array([[1, 5, 9, 200, 7]])
    reference = model(ids)
    plan = speed_up(model, parts, mx.cpu, blas=True)
    assert plan.blas_layers > 0 and (plan.split_layers > 0) == (parts > 1)
    assert {k: v.shape for k, v in tree_flatten(model.parameters())} == before  # nothing added or renamed
    embed = model.model.embed_tokens
    assert isinstance(embed, nn.Embedding) and embed.weight.shape == (300, 128)
    assert mx.allclose(model(ids), reference, atol=1e-4).item()  # 5 rows: BLAS
    assert mx.allclose(model(ids[:, :1]), reference[:, :1], atol=1e-4).item()  # 1 row: mlx's kernels


@settings(max_examples=20, deadline=None)
@given(rows=st.integers(1, 9), parts=st.integers(2, 4), quantized=st.booleans(), bias=st.booleans())
def test_split_is_bit_identical_and_blas_close(rows: int, parts: int, quantized: bool, bias: bool) -> None:
    layer: Any = nn.Linear(64, 512, bias=bias)
    if quantized:
        layer = layer.to_quantized(group_size=32, bits=4)
    x = mx.random.normal((rows, 64), key=mx.random.key(rows))
    reference = layer(x)
    holder = nn.Module()
    holder.layer = layer
    plan = speed_up(holder, parts, mx.cpu, blas=False)
    assert plan.split_layers == 1 and plan.blas_layers == 0
    assert isinstance(holder.layer, nn.QuantizedLinear if quantized else nn.Linear)
    assert type(holder.layer) in FAST_CLASSES.values()
    assert mx.array_equal(holder.layer(x), reference).item()


@pytest.mark.parametrize("quantized", [False, True])
def test_blas_matches_mlx_kernels_to_float32_precision(quantized: bool) -> None:
    layer: Any = nn.Linear(64, 512)
    if quantized:
        layer = layer.to_quantized(group_size=32, bits=4)
    holder = nn.Module()
    holder.layer = layer
    x = mx.random.normal((6, 64), key=mx.random.key(3))
    reference = holder.layer(x)
    plan = speed_up(holder, 1, mx.cpu, blas=True)
    assert plan.blas_layers == 1 and plan.blas_bytes == 512 * 64 * 4
    assert mx.allclose(holder.layer(x), reference, atol=1e-4).item()
    assert mx.array_equal(holder.layer(x[:1]), reference[:1]).item()  # one row: mlx's kernel


def test_auto_blas_is_cpu_only_and_off_with_compile() -> None:
    cpu = apply_speed_plan(seed_oss(True), MlxOptions(cpu_streams=1), mx.Device(mx.cpu))
    assert cpu.blas_layers > 0 and cpu.blas_bytes > 0
    assert apply_speed_plan(seed_oss(True), MlxOptions(cpu_streams=1, compile=True), mx.Device(mx.cpu)).blas_layers == 0
    assert apply_speed_plan(seed_oss(True), MlxOptions(cpu_streams=1, blas=False), mx.Device(mx.cpu)).blas_layers == 0
    with pytest.raises(ValueError, match="blas=True and compile=True"):
        MlxOptions.parse({"blas": True, "compile": True})
