"""The GGUF loader on tiny synthetic files: tensor types, layer mapping, tied embeddings, errors."""

from __future__ import annotations

from pathlib import Path

import mlx.core as mx
import mlx.nn as nn
import numpy as np
import pytest
from gguf_writer import (
    Q4_0,
    Q4_1,
    Q8_0,
    dequantize_blocks,
    float_tensor,
    quantize_blocks,
    write_gguf,
)
from tiny_model import tiny_metadata, tiny_tensors, write_tiny_llama

from lmstream.errors import ModelLoadError
from lmstream_mlx.gguf import load_gguf
from lmstream_mlx.gguf_header import read_tensor_types


def test_quantized_types_stay_quantized_with_exact_values(tiny_gguf: Path) -> None:
    loaded = load_gguf(tiny_gguf)
    layer = loaded.model.model.layers[0]
    expected = {"q_proj": 4, "k_proj": 4, "v_proj": 8}
    for name, bits in expected.items():
        module = getattr(layer.self_attn, name)
        assert isinstance(module, nn.QuantizedLinear) and (module.bits, module.group_size) == (bits, 32)
    assert isinstance(layer.self_attn.o_proj, nn.Linear) and layer.self_attn.o_proj.weight.dtype == mx.float16
    assert isinstance(loaded.model.model.embed_tokens, nn.QuantizedEmbedding)
    assert loaded.config["tie_word_embeddings"] and loaded.config["rope_traditional"]

    kind, shape, raw = tiny_tensors()["blk.0.ffn_gate.weight"]
    gate = layer.mlp.gate_proj
    recovered = mx.dequantize(gate.weight, gate.scales, gate.biases, group_size=32, bits=4)
    np.testing.assert_allclose(np.array(recovered), dequantize_blocks(raw, kind, shape), atol=2e-3)


def test_quantized_model_matches_its_float_twin(tmp_path: Path) -> None:
    """Same weights, written quantized and as F32 of the quantized values: same logits."""
    tensors = tiny_tensors()
    floats = {}
    for name, (kind, shape, raw) in tensors.items():
        if kind in (Q4_0, Q4_1, Q8_0):
            floats[name] = float_tensor(dequantize_blocks(raw, kind, shape))
        else:
            floats[name] = (kind, shape, raw)
    quant = load_gguf(write_gguf(tmp_path / "q.gguf", tiny_metadata(), tensors)).model
    dense = load_gguf(write_gguf(tmp_path / "f.gguf", tiny_metadata(), floats)).model
    ids = mx.array([[5, 70, 100, 261, 262]])
    got, want = np.array(quant(ids).astype(mx.float32)), np.array(dense(ids))
    assert np.abs(got - want).max() < 0.02 * np.abs(want).max()  # float16 scales vs float32


def test_untied_output_becomes_lm_head(tmp_path: Path) -> None:
    loaded = load_gguf(write_tiny_llama(tmp_path / "untied.gguf", tied=False))
    assert not loaded.config["tie_word_embeddings"]
    assert loaded.model.lm_head.weight.shape == (loaded.config["vocab_size"], 64)


def test_block_encoders_round_trip() -> None:
    values = np.random.default_rng(1).standard_normal((2, 64)).astype(np.float32)
    for kind, tolerance in ((Q8_0, 0.02), (Q4_0, 0.4), (Q4_1, 0.4)):
        got = dequantize_blocks(quantize_blocks(values, kind), kind, values.shape)
        assert np.abs(got - values).max() < tolerance


@pytest.mark.parametrize(("overrides", "named"), [
    ({"general.architecture": "qwen3"}, "qwen3"),
    ({"llama.expert_count": 8}, "experts"),
    ({"llama.rope.dimension_count": 8}, "partial rotary"),
    ({"llama.rope.scaling.type": "yarn"}, "yarn"),
    ({"llama.embedding_length": None}, "embedding_length"),
])
def test_unsupported_metadata_is_named(tmp_path: Path, overrides: dict[str, object], named: str) -> None:
    meta = {k: v for k, v in tiny_metadata(**overrides).items() if v is not None}
    path = write_gguf(tmp_path / "bad.gguf", meta, tiny_tensors())
    with pytest.raises(ModelLoadError, match=named):
        load_gguf(path)


def test_unsupported_tensor_type_is_named(tmp_path: Path) -> None:
    tensors = tiny_tensors()
    tensors["blk.1.ffn_down.weight"] = (13, (64, 256), b"\0" * 176 * 64)  # Q5_K
    path = write_gguf(tmp_path / "q5k.gguf", tiny_metadata(), tensors)
    assert read_tensor_types(path)["blk.1.ffn_down.weight"] == "Q5_K"
    with pytest.raises(ModelLoadError, match=r"Q5_K \(1 tensors, e\.g\. blk\.1\.ffn_down\.weight\)"):
        load_gguf(path)


def test_unknown_tensor_is_named(tmp_path: Path) -> None:
    tensors = tiny_tensors()
    tensors["blk.0.attn_q_norm.weight"] = float_tensor(np.ones(64, np.float32))
    with pytest.raises(ModelLoadError, match="attn_q_norm"):
        load_gguf(write_gguf(tmp_path / "extra.gguf", tiny_metadata(), tensors))


def test_missing_and_malformed_files(tmp_path: Path) -> None:
    with pytest.raises(ModelLoadError, match="does not exist"):
        load_gguf(tmp_path / "nope.gguf")
    junk = tmp_path / "junk.gguf"
    junk.write_bytes(b"not a gguf file at all")
    with pytest.raises(ModelLoadError, match="bad magic"):
        load_gguf(junk)
