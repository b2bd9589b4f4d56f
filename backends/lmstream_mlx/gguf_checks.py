"""Check a GGUF file's declared llama architecture against its tensor table before loading.

The metadata of a downloaded file is untrusted: ``block_count=100000`` would make mlx-lm build
a hundred thousand layers (gigabytes) before any weight is compared, ``head_count=0`` divides
by zero, ``context_length=0`` is meaningless. ``check_architecture`` reads only the header
(lmstream's bounded reader) and refuses, as a ModelLoadError naming the key, any count that is
not a positive integer within its bound or that disagrees with the tensors actually present.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from typing import Any

from lmstream import ModelLoadError
from lmstream.backend import GGUFHeader, TensorInfo

MAX_BLOCKS = 4096
MAX_WIDTH = 1 << 20
"""The largest embedding / feed-forward width accepted."""
MAX_HEADS = 4096
MAX_CONTEXT_LENGTH = 1 << 24
"""The longest declared context (16M tokens) accepted."""
LAYER_TENSORS = ("attn_norm", "attn_q", "attn_k", "attn_v", "attn_output", "ffn_norm",
                 "ffn_gate", "ffn_up", "ffn_down")

_LAYER = re.compile(r"blk\.(\d+)\.")


def _required(metadata: Mapping[str, Any], key: str, maximum: int) -> int:
    """A positive integer metadata value no larger than ``maximum``, which must be present."""
    value = _count(metadata, key, maximum)
    if value is None:
        raise ModelLoadError(f"GGUF metadata lacks {key}")
    return value


def _count(metadata: Mapping[str, Any], key: str, maximum: int) -> int | None:
    """A positive integer metadata value no larger than ``maximum`` (None when absent)."""
    value = metadata.get(key)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= maximum:
        raise ModelLoadError(f"GGUF metadata {key}={value!r} is not an integer from 1 to {maximum}")
    return value


def _positive_float(metadata: Mapping[str, Any], key: str) -> None:
    value = metadata.get(key)
    if value is not None and (isinstance(value, bool) or not isinstance(value, (int, float))
                              or not math.isfinite(value) or value <= 0):
        raise ModelLoadError(f"GGUF metadata {key}={value!r} is not a positive finite number")


def _expect_shape(tensors: Mapping[str, TensorInfo], name: str, shape: tuple[int, ...]) -> None:
    tensor = tensors.get(name)
    if tensor is None:
        raise ModelLoadError(f"GGUF file lacks tensor {name} that its metadata implies")
    if tensor.shape != shape:
        raise ModelLoadError(f"GGUF tensor {name} has shape {list(tensor.shape)}, but the "
                             f"metadata implies {list(shape)}")


def check_architecture(header: GGUFHeader) -> None:
    """Refuse a llama GGUF whose metadata is out of bounds or disagrees with its tensors."""
    metadata = header.metadata
    arch = metadata.get("general.architecture")
    if not isinstance(arch, str) or arch != "llama":
        return  # llama_config names the unsupported architecture
    hidden = _required(metadata, f"{arch}.embedding_length", MAX_WIDTH)
    blocks = _required(metadata, f"{arch}.block_count", MAX_BLOCKS)
    ffn = _required(metadata, f"{arch}.feed_forward_length", MAX_WIDTH)
    heads = _required(metadata, f"{arch}.attention.head_count", MAX_HEADS)
    kv_heads = _count(metadata, f"{arch}.attention.head_count_kv", MAX_HEADS)
    head_dim = _count(metadata, f"{arch}.attention.key_length", MAX_WIDTH)
    _count(metadata, f"{arch}.context_length", MAX_CONTEXT_LENGTH)
    vocab = _count(metadata, f"{arch}.vocab_size", MAX_WIDTH * 16)
    _positive_float(metadata, f"{arch}.attention.layer_norm_rms_epsilon")
    _positive_float(metadata, f"{arch}.rope.freq_base")
    kv_heads = kv_heads or heads
    if heads % kv_heads:
        raise ModelLoadError(f"GGUF metadata: {heads} attention heads are not a multiple of "
                             f"{kv_heads} key/value heads")
    if head_dim is None:
        if hidden % heads:
            raise ModelLoadError(f"GGUF metadata: embedding_length {hidden} is not a multiple "
                                 f"of the {heads} attention heads")
        head_dim = hidden // heads
    tensors = {tensor.name: tensor for tensor in header.tensors}
    layers = {int(match.group(1)) for name in tensors if (match := _LAYER.match(name))}
    if layers != set(range(blocks)):
        present = f"{len(layers)} layers (blk.0 to blk.{max(layers)})" if layers else "no layers"
        raise ModelLoadError(f"GGUF metadata {arch}.block_count={blocks}, but the file has "
                             f"tensors for {present}")
    embedding = tensors.get("token_embd.weight")
    if embedding is None or embedding.shape[0] != hidden:
        raise ModelLoadError(f"GGUF tensor token_embd.weight does not match embedding_length "
                             f"{hidden}")
    if vocab is not None and embedding.shape[-1] != vocab:
        raise ModelLoadError(f"GGUF metadata {arch}.vocab_size={vocab}, but token_embd.weight "
                             f"holds {embedding.shape[-1]} tokens")
    for layer in range(blocks):
        prefix = f"blk.{layer}."
        _expect_shape(tensors, f"{prefix}attn_q.weight", (hidden, heads * head_dim))
        _expect_shape(tensors, f"{prefix}attn_k.weight", (hidden, kv_heads * head_dim))
        _expect_shape(tensors, f"{prefix}attn_v.weight", (hidden, kv_heads * head_dim))
        _expect_shape(tensors, f"{prefix}ffn_up.weight", (hidden, ffn))
        _expect_shape(tensors, f"{prefix}ffn_gate.weight", (hidden, ffn))
        _expect_shape(tensors, f"{prefix}ffn_down.weight", (ffn, hidden))
