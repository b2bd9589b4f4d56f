"""Whole llama decoder layers on numpy (mlx's CPU backend only): norms, residuals and both blocks.

Each hand-over from mlx to numpy evaluates mlx's pending graph, and on a loaded machine that
evaluation (a wake-up of mlx's CPU stream thread) cost ~0.3 ms, as much as a layer's
products in a decode step (benchmarks/mlx_cpu_profile.py). ``CpuLlamaLayer`` (mlx-lm's
``llama.TransformerBlock`` exactly, whose blocks cpu_layers.py made numpy ones and whose
norms are plain ``nn.RMSNorm``) computes the whole layer in numpy and remembers its output
on this thread: when the next layer is called with that very mlx array, it reuses the numpy
array without evaluating anything. A decode step then evaluates mlx twice (after the
embedding and before the output head) instead of twice per layer.

Several sequences decoded together (one token each, each row with its own cache: a
``RowCaches``, cpu_attention.py) run the same numpy layer over all rows at once
(``CpuLlamaAttention.rows_call``); the batch runner uses that when ``serves_rows(model)``.
Speculative verification feeds each row several tokens (``RowCaches.counts`` real ones per
row, padded to one length) through the same layer (``CpuLlamaAttention.rows_many_call``).
Other calls the numpy blocks cannot serve (other caches or masks) run mlx-lm's layer unchanged.
"""

from __future__ import annotations

import threading
from typing import Any

import mlx.core as mx
import mlx.nn as nn
import numpy as np
from mlx_lm.models import llama

from .blas_scope import limited
from .cpu_attention import RowCaches
from .cpu_layers import CpuLlamaAttention, CpuLlamaMLP, fused_of, to_numpy

NORMS_ATTRIBUTE = "_lmstream_norms"
DTYPE_ATTRIBUTE = "_lmstream_norm_dtype"

_local = threading.local()


def rms_norm(x: np.ndarray, weight: np.ndarray, eps: float) -> np.ndarray:
    """``mx.fast.rms_norm`` in numpy: ``x / sqrt(mean(x**2) + eps) * weight`` over the last axis."""
    scale = np.float32(1) / np.sqrt(np.mean(np.square(x), axis=-1, keepdims=True) + np.float32(eps))
    result: np.ndarray = x * scale * weight
    return result


def hand_over(x: mx.array) -> np.ndarray:
    """``x`` as a float32 matrix ``(rows, features)``: the remembered numpy output when ``x`` is
    the last numpy layer's output on this thread, else evaluated and viewed (cpu_layers)."""
    last = getattr(_local, "last", None)
    if last is not None and last[0] is x:
        remembered: np.ndarray = last[1]
        return remembered
    return to_numpy(x)


class CpuLlamaLayer(llama.TransformerBlock):  # type: ignore[misc]  # mlx-lm is untyped
    """mlx-lm's llama decoder layer computed in numpy for one sequence (module docstring)."""

    def __call__(self, x: mx.array, mask: Any = None, cache: Any = None) -> mx.array:
        if isinstance(cache, RowCaches):
            return self._rows_call(x, mask, cache)
        attention, mlp = self.self_attn, self.mlp
        norms = getattr(self, NORMS_ATTRIBUTE, None)
        first, second = fused_of(attention), fused_of(mlp)
        store = attention.numpy_store(x, mask, cache) if isinstance(attention, CpuLlamaAttention) else False
        if norms is None or first is None or second is None or store is False or store is True \
                or not isinstance(mlp, CpuLlamaMLP):
            own: mx.array = super().__call__(x, mask, cache)
            return own
        batch, length, hidden = x.shape
        h = hand_over(x)
        with limited(first.threads):
            h = h + attention.numpy_call(first, rms_norm(h, *norms[0]), store, length)
            out = h + mlp.numpy_call(second, rms_norm(h, *norms[1]))
        # mlx-lm's layer returns x + (a product of the norm's output): x's dtype promoted with
        # the norm weights' (the GGUF models' float16 embeddings meet float32 norms: float32).
        return self._to_mlx(out.reshape(batch, length, hidden), x.dtype)

    def _to_mlx(self, out: np.ndarray, dtype: mx.Dtype) -> mx.array:
        """The layer's output as mlx-lm's layer types it, remembered for the next layer."""
        if dtype != getattr(self, DTYPE_ATTRIBUTE):
            dtype = mx.float32
        y = mx.array(out, dtype=dtype)
        _local.last = (y, out.reshape(-1, out.shape[-1])) if dtype == mx.float32 else None
        return y

    def _rows_call(self, x: mx.array, mask: Any, caches: RowCaches) -> mx.array:
        """Tokens of several sequences (``x`` ``(rows, L, hidden)``; one token each for a decode
        step, several for verification), each row with its own cache: the whole layer in numpy
        over all rows. Only a causal mask (or none) is served."""
        attention, mlp = self.self_attn, self.mlp
        norms = getattr(self, NORMS_ATTRIBUTE, None)
        first, second = fused_of(attention), fused_of(mlp)
        causal = mask is None or (isinstance(mask, str) and mask == "causal")
        if norms is None or first is None or second is None or not causal:
            raise TypeError("RowCaches needs fused numpy layers and a causal mask (serves_rows)")
        rows, length, hidden = x.shape
        h = hand_over(x)
        with limited(first.threads):
            if length == 1 and caches.counts is None:
                h = h + attention.rows_call(first, rms_norm(h, *norms[0]), caches, x.dtype)
            else:
                h = h + attention.rows_many_call(first, rms_norm(h, *norms[0]), caches, length, x.dtype)
            out = h + mlp.numpy_call(second, rms_norm(h, *norms[1]))
        return self._to_mlx(out.reshape(rows, length, hidden), x.dtype)


def serves_rows(model: nn.Module) -> bool:
    """Whether every decoder layer of ``model`` is a numpy layer, so a batched decode step can
    pass ``RowCaches`` (each row keeping its own cache) instead of merging into a batch cache."""
    layers = getattr(model, "layers", None) or []
    return bool(layers) and all(type(layer) is CpuLlamaLayer and getattr(layer, NORMS_ATTRIBUTE, None) is not None
                                for layer in layers)


def _norm(module: Any) -> tuple[np.ndarray, float] | None:
    if type(module) is not nn.RMSNorm:
        return None
    return np.array(module.weight.astype(mx.float32)), float(module.eps)


def fuse_layer(layer: nn.Module) -> bool:
    """Make ``layer`` (exactly ``llama.TransformerBlock``, numpy blocks inside) a ``CpuLlamaLayer``."""
    if type(layer) is not llama.TransformerBlock:
        return False
    if not (isinstance(layer.self_attn, CpuLlamaAttention) and isinstance(layer.mlp, CpuLlamaMLP)):
        return False
    norms = (_norm(layer.input_layernorm), _norm(layer.post_attention_layernorm))
    if norms[0] is None or norms[1] is None:
        return False
    object.__setattr__(layer, NORMS_ATTRIBUTE, norms)
    object.__setattr__(layer, DTYPE_ATTRIBUTE, layer.input_layernorm.weight.dtype)
    layer.__class__ = CpuLlamaLayer
    return True
