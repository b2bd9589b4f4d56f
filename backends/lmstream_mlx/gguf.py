"""Load llama-architecture GGUF files (SmolLM, Llama, Mistral-style) onto mlx-lm's llama model.

mlx reads GGUF itself (``mx.load``): Q4_0/Q4_1/Q8_0 tensors come back packed as
``weight``/``scales``/``biases`` triples and become quantized layers (bits and group size
read off the shapes); Q2_K/Q4_K/Q6_K/BF16 come back expanded to float16; F16/F32 as they are.
GGUF stores llama's Q/K rows in the interleaved rope layout, so the model uses
``rope_traditional=True``; a missing ``output.weight`` means tied embeddings.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, cast

import mlx.core as mx
import mlx.nn as nn

from lmstream import ModelLoadError
from lmstream.backend import read_gguf_header

from .gguf_checks import check_architecture
from .gguf_header import SUPPORTED_TYPES
from .gguf_tokenizer import tokenizer_from_gguf_metadata
from .tokenizer import TokenizersTokenizer

SUPPORTED_ARCHITECTURES = ("llama",)

_TOP_LEVEL = {"token_embd": "model.embed_tokens", "output_norm": "model.norm", "output": "lm_head"}
_PER_LAYER = {
    "attn_norm": "input_layernorm",
    "ffn_norm": "post_attention_layernorm",
    "attn_q": "self_attn.q_proj",
    "attn_k": "self_attn.k_proj",
    "attn_v": "self_attn.v_proj",
    "attn_output": "self_attn.o_proj",
    "ffn_gate": "mlp.gate_proj",
    "ffn_up": "mlp.up_proj",
    "ffn_down": "mlp.down_proj",
}
_LAYER_TENSOR = re.compile(r"blk\.(\d+)\.(\w+)\.(weight|scales|biases|bias)")
_TOP_TENSOR = re.compile(r"(\w+)\.(weight|scales|biases|bias)")
_ROPE_FREQS = "rope_freqs.weight"


def plain_metadata(raw: Mapping[str, Any]) -> dict[str, Any]:
    """GGUF metadata with mlx arrays turned into Python scalars and lists."""
    out: dict[str, Any] = {}
    for key, value in raw.items():
        if isinstance(value, mx.array):
            out[key] = value.item() if value.ndim == 0 else value.tolist()
        else:
            out[key] = value
    return out


def read_gguf(path: Path) -> tuple[dict[str, mx.array], dict[str, Any]]:
    """Tensors and plain metadata of a GGUF file; unreadable files raise ModelLoadError.

    The header is read and checked first (bounded reader, declared architecture against the
    tensors present), so a malformed or inconsistent file fails before mlx allocates anything.
    """
    header = read_gguf_header(path, keep=lambda key: not key.startswith("tokenizer."))
    unsupported: dict[str, list[str]] = {}
    for tensor in header.tensors:
        if tensor.type_name not in SUPPORTED_TYPES:
            unsupported.setdefault(tensor.type_name, []).append(tensor.name)
    if unsupported:
        listing = "; ".join(f"{kind} ({len(names)} tensors, e.g. {names[0]})"
                            for kind, names in sorted(unsupported.items()))
        raise ModelLoadError(
            f"GGUF file {path} has tensor types mlx cannot read: {listing}. "
            "Supported: F32, F16, BF16, Q4_0, Q4_1, Q8_0 (kept quantized), Q2_K, Q4_K, Q6_K "
            "(expanded to float16).")
    check_architecture(header)
    try:
        loaded = mx.load(str(path), return_metadata=True)
    except (RuntimeError, ValueError) as exc:
        raise ModelLoadError(f"mlx could not load GGUF file {path}: {exc}") from exc
    weights, raw = cast("tuple[dict[str, mx.array], dict[str, Any]]", loaded)  # mlx's stub: a union
    return weights, plain_metadata(raw)


def _meta(metadata: Mapping[str, Any], arch: str, key: str, default: Any = None) -> Any:
    return metadata.get(f"{arch}.{key}", default)


def llama_config(metadata: Mapping[str, Any], weights: Mapping[str, mx.array]) -> dict[str, Any]:
    """An mlx-lm ``config.json`` dict for the llama model described by GGUF metadata."""
    arch = metadata.get("general.architecture")
    if arch not in SUPPORTED_ARCHITECTURES:
        raise ModelLoadError(f"GGUF architecture {arch!r} is not supported; supported: "
                             f"{', '.join(SUPPORTED_ARCHITECTURES)}")
    experts = _meta(metadata, arch, "expert_count", 0) or 0
    if experts:
        raise ModelLoadError(f"GGUF {arch} model with {experts} experts (mixture of experts) is not supported")
    required = ("embedding_length", "block_count", "feed_forward_length", "attention.head_count")
    missing = [f"{arch}.{k}" for k in required if _meta(metadata, arch, k) is None]
    if missing:
        raise ModelLoadError(f"GGUF metadata lacks {', '.join(missing)}")
    hidden = int(_meta(metadata, arch, "embedding_length"))
    heads = int(_meta(metadata, arch, "attention.head_count"))
    head_dim = int(_meta(metadata, arch, "attention.key_length", hidden // heads))
    rope_dims = int(_meta(metadata, arch, "rope.dimension_count", head_dim))
    if rope_dims != head_dim:
        raise ModelLoadError(f"GGUF rope.dimension_count={rope_dims} differs from the head size "
                             f"{head_dim}; partial rotary embeddings are not supported")
    vocab = _meta(metadata, arch, "vocab_size") or len(metadata.get("tokenizer.ggml.tokens", []))
    if not vocab:
        raise ModelLoadError("GGUF metadata gives no vocabulary size")
    config: dict[str, Any] = {
        "model_type": "llama",
        "hidden_size": hidden,
        "num_hidden_layers": int(_meta(metadata, arch, "block_count")),
        "intermediate_size": int(_meta(metadata, arch, "feed_forward_length")),
        "num_attention_heads": heads,
        "num_key_value_heads": int(_meta(metadata, arch, "attention.head_count_kv", heads)),
        "head_dim": head_dim,
        "rms_norm_eps": float(_meta(metadata, arch, "attention.layer_norm_rms_epsilon", 1e-5)),
        "vocab_size": int(vocab),
        "rope_theta": float(_meta(metadata, arch, "rope.freq_base", 10000.0)),
        "rope_traditional": True,
        "tie_word_embeddings": "output.weight" not in weights,
        "attention_bias": "blk.0.attn_q.bias" in weights,
        "mlp_bias": "blk.0.ffn_up.bias" in weights,
    }
    context = _meta(metadata, arch, "context_length")
    if context:
        config["max_position_embeddings"] = int(context)
    scaling = _meta(metadata, arch, "rope.scaling.type")
    factor = _meta(metadata, arch, "rope.scaling.factor")
    if scaling == "linear" and factor:
        config["rope_scaling"] = {"type": "linear", "factor": float(factor)}
    elif scaling not in (None, "none", "linear"):
        raise ModelLoadError(f"GGUF rope scaling {scaling!r} is not supported (supported: none, linear)")
    return config


def mlx_lm_weights(weights: Mapping[str, mx.array]) -> dict[str, mx.array]:
    """GGUF tensor names mapped to mlx-lm llama names; unknown tensors raise ModelLoadError."""
    mapped: dict[str, mx.array] = {}
    unknown: list[str] = []
    for name, value in weights.items():
        if name == _ROPE_FREQS:
            continue
        layer = _LAYER_TENSOR.fullmatch(name)
        if layer is not None and layer.group(2) in _PER_LAYER:
            mapped[f"model.layers.{layer.group(1)}.{_PER_LAYER[layer.group(2)]}.{layer.group(3)}"] = value
            continue
        top = _TOP_TENSOR.fullmatch(name)
        if top is not None and top.group(1) in _TOP_LEVEL:
            mapped[f"{_TOP_LEVEL[top.group(1)]}.{top.group(2)}"] = value
            continue
        unknown.append(name)
    if unknown:
        raise ModelLoadError(f"GGUF tensors not part of the llama architecture: {', '.join(sorted(unknown)[:8])}")
    return mapped


def quantization_of(weights: Mapping[str, mx.array], in_dims: Mapping[str, int]) -> dict[str, dict[str, int]]:
    """Per module path: ``{"group_size", "bits"}`` read off packed weight/scales shapes."""
    result: dict[str, dict[str, int]] = {}
    for key, scales in weights.items():
        if not key.endswith(".scales"):
            continue
        path = key[: -len(".scales")]
        dims = in_dims.get(path)
        if dims is None:
            raise ModelLoadError(f"quantized tensor {path} has no matching layer")
        group_size = dims // scales.shape[-1]
        bits = weights[f"{path}.weight"].shape[-1] * 32 // dims
        if bits not in (2, 3, 4, 5, 6, 8) or group_size not in (32, 64, 128):
            raise ModelLoadError(f"quantized tensor {path}: {bits} bits, group size {group_size} "
                                 "is not a layout mlx supports")
        result[path] = {"group_size": group_size, "bits": bits}
    return result


class FrequencyRoPE(nn.Module):  # type: ignore[misc]  # mlx.nn is untyped
    """Rotary embedding with per-dimension frequency factors (GGUF ``rope_freqs``, Llama 3.1)."""

    def __init__(self, dims: int, base: float, factors: mx.array) -> None:
        super().__init__()
        self.dims = dims
        self._freqs = (base ** (mx.arange(0, dims, 2, dtype=mx.float32) / dims)) * factors.astype(mx.float32)

    def __call__(self, x: mx.array, offset: int | mx.array = 0) -> mx.array:
        return mx.fast.rope(x, self.dims, traditional=True, base=None, scale=1.0,
                            offset=offset, freqs=self._freqs)


def build_llama(config: Mapping[str, Any], weights: Mapping[str, mx.array],
                rope_factors: mx.array | None = None) -> nn.Module:
    """mlx-lm's llama model with ``weights`` (mlx-lm names) loaded, quantized where packed."""
    from mlx_lm.models import llama

    model = llama.Model(llama.ModelArgs.from_dict(dict(config)))
    in_dims = {path: module.weight.shape[-1] for path, module in model.named_modules()
               if hasattr(module, "to_quantized") and hasattr(module, "weight")}
    quantization = quantization_of(weights, in_dims)
    if quantization:
        nn.quantize(model, class_predicate=lambda path, _module: quantization.get(path, False))
    try:
        model.load_weights(list(weights.items()), strict=True)
    except ValueError as exc:
        raise ModelLoadError(f"GGUF weights do not fit the llama model: {exc}") from exc
    if rope_factors is not None:
        for layer in model.layers:
            attn = layer.self_attn
            attn.rope = FrequencyRoPE(attn.head_dim, float(config["rope_theta"]), rope_factors)
    model.eval()
    return model


@dataclass
class GGUFModel:
    """A GGUF file loaded for mlx: the model, its tokenizer and what describes it."""

    model: nn.Module
    tokenizer: TokenizersTokenizer
    config: dict[str, Any]
    metadata: dict[str, Any]
    rope_factors: bool = False
    """True when the file carries ``rope_freqs`` (no mlx-lm config can express them)."""


def load_gguf(path: str | Path) -> GGUFModel:
    """Load a llama-architecture GGUF file; unsupported content raises ModelLoadError."""
    path = Path(path)
    if not path.is_file():
        raise ModelLoadError(f"GGUF file {path} does not exist")
    raw_weights, metadata = read_gguf(path)
    config = llama_config(metadata, raw_weights)
    rope_factors = raw_weights.get(_ROPE_FREQS)
    weights = mlx_lm_weights(raw_weights)
    model = build_llama(config, weights, rope_factors)
    mx.eval(model.parameters())
    tokenizer = tokenizer_from_gguf_metadata(metadata)
    return GGUFModel(model=model, tokenizer=tokenizer, config=config, metadata=metadata,
                     rope_factors=rope_factors is not None)

