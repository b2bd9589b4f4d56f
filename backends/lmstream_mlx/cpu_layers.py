"""Llama attention and MLP blocks computed on numpy's BLAS (mlx's CPU backend only).

mlx-lm's llama ``Attention`` and ``MLP`` (exactly those classes: the GGUF loader's models and
mlx-lm llama directories) get subclasses whose call, for one sequence on CPU, hands the
block's input to numpy once and returns one mlx array: the Q/K/V projections as one fused
float32 product, rotary embedding, attention over a ``NumpyKVCache`` (cpu_attention.py) and
the output projection; gate and up as one fused product, SiLU, down. A decode step thus costs
two mlx <-> numpy hand-overs per layer instead of one per product, and no product runs on
mlx's reference BLAS or its one-row quantized kernel (benchmarks/mlx_cpu_products.py).

The fused matrices are the layers' float32 copies (speed.py's ``FastMatmul.dense``): the
single projections keep row views of them, so nothing is stored twice and batched decode
steps (several sequences: mlx-lm's own attention over a ``BatchKVCache``) still use BLAS
for their products. Everything else (masks other than causal, other cache kinds, other
rotary embeddings' formulas) falls back to mlx-lm's call or to the module's own rope.

A batched decode step (a few rows, one token each) multiplies through ``rows_product``:
OpenBLAS's GEMM packs the whole weight matrix per call, which for 8 rows cost ~2.5x a
one-row GEMV (weights read from memory three times); blocks of weight rows small enough
for the core's L2 cache read each weight once (benchmarks/mlx_cpu_profile.py).
"""

from __future__ import annotations

from typing import Any

import mlx.core as mx
import mlx.nn as nn
import numpy as np
from mlx_lm.models import llama
from mlx_lm.models.cache import KVCache

from .blas_scope import limited
from .cpu_attention import NumpyKVCache, RowCaches, adopt, attend, attend_rows, attend_rows_many
from .cpu_share import BLOCK_BYTES as BLOCK_BYTES  # re-exported (their home was here)
from .cpu_share import DOT_ROWS, Sharing, dot_rows, shared_product, weight_block
from .cpu_share import SMALL_ROWS as SMALL_ROWS

FUSED_ATTRIBUTE = "_lmstream_fused"


def rows_product(x: np.ndarray, weight: np.ndarray, shared: Sharing = Sharing.OFF) -> np.ndarray:
    """``x @ weight.T`` for a few rows of ``x``: up to ``DOT_ROWS`` rows as dot products
    (cpu_share.dot_rows), up to ``SMALL_ROWS`` one product per block of weight rows, each
    block read once while it sits in the L2 cache (see the module docstring); others plain.
    ``shared``: which products' blocks of a large weight are shared with the helper thread
    (cpu_share.py)."""
    rows = x.shape[0]
    if shared.shares(rows):
        product = shared_product(x, weight)
        if product is not None:
            return product
    if rows <= DOT_ROWS:
        return dot_rows(x, weight)
    if rows > SMALL_ROWS:
        plain: np.ndarray = x @ weight.T
        return plain
    return block_product(x, weight)


def block_product(x: np.ndarray, weight: np.ndarray) -> np.ndarray:
    """``x @ weight.T`` as one product per block of weight rows (``weight_block``: L2-sized and
    within OpenBLAS's small-matrix kernel), each block read once: ``rows_product``'s path for
    ``DOT_ROWS + 1`` to ``SMALL_ROWS`` rows."""
    outputs, inputs = weight.shape
    rows = x.shape[0]
    block = weight_block(inputs, rows)
    columns = np.ascontiguousarray(x.T)
    out = np.empty((outputs, rows), dtype=np.float32)
    for start in range(0, outputs, block):
        np.matmul(weight[start:start + block], columns, out=out[start:start + block])
    result: np.ndarray = out.T
    return result


def to_numpy(x: mx.array) -> np.ndarray:
    """``x`` as a float32 numpy matrix ``(rows, features)`` (zero-copy when already float32)."""
    flat = x.reshape(-1, x.shape[-1])
    if flat.dtype != mx.float32:
        flat = flat.astype(mx.float32)
    mx.eval(flat)
    return np.asarray(flat)


def rope_numpy(x: np.ndarray, offset: int, rope: nn.RoPE) -> np.ndarray:
    """``mx.fast.rope`` of ``x`` ``(heads, L, D)`` at positions ``offset..offset+L-1`` in numpy."""
    return _rotate(x, *_angles(x.shape[1], offset, rope), rope)


_last_angles: list[tuple[tuple[int, int, int, float, float], tuple[np.ndarray, np.ndarray]]] = []


def _angles(length: int, offset: int, rope: nn.RoPE) -> tuple[np.ndarray, np.ndarray]:
    """cos and sin ``(L, dims/2)`` of the rotation angles at positions ``offset..offset+L-1``;
    the last ones are kept, so a model call computes them once, not once per layer."""
    key = (length, offset, rope.dims, float(rope.base), float(rope.scale))
    last = _last_angles[-1] if _last_angles else None  # one read: another thread may replace it
    if last is not None and last[0] == key:
        return last[1]
    dims = rope.dims
    inv = np.power(np.float32(rope.base), -np.arange(0, dims, 2, dtype=np.float32) / np.float32(dims))
    positions = np.arange(offset, offset + length, dtype=np.float32) * np.float32(rope.scale)
    theta = positions[:, None] * inv[None, :]
    angles = (np.cos(theta), np.sin(theta))
    _last_angles[:] = [(key, angles)]
    return angles


def _angles_at(positions: np.ndarray, rope: nn.RoPE) -> tuple[np.ndarray, np.ndarray]:
    """cos and sin ``(rows, dims/2)`` of the rotation angles at these positions (one per row)."""
    dims = rope.dims
    inv = np.power(np.float32(rope.base), -np.arange(0, dims, 2, dtype=np.float32) / np.float32(dims))
    theta = (positions * np.float32(rope.scale))[:, None] * inv[None, :]
    return np.cos(theta), np.sin(theta)


def _rotate(x: np.ndarray, cos: np.ndarray, sin: np.ndarray, rope: nn.RoPE) -> np.ndarray:
    dims = rope.dims
    half = dims // 2
    out = x.copy()
    if rope.traditional:
        even, odd = x[..., 0:dims:2], x[..., 1:dims:2]
        out[..., 0:dims:2] = even * cos - odd * sin
        out[..., 1:dims:2] = even * sin + odd * cos
    else:
        first, second = x[..., :half], x[..., half:dims]
        out[..., :half] = first * cos - second * sin
        out[..., half:dims] = first * sin + second * cos
    return out


def _rope_pair(q: np.ndarray, k: np.ndarray, offset: int, rope: Any) -> tuple[np.ndarray, np.ndarray]:
    """Rotary embedding of queries and keys: in numpy for a plain ``nn.RoPE``, else through the
    module itself (its own formula: frequency factors, scaled variants)."""
    if type(rope) is nn.RoPE:
        cos, sin = _angles(q.shape[1], offset, rope)
        return _rotate(q, cos, sin, rope), _rotate(k, cos, sin, rope)
    rotated = [rope(mx.array(a)[None], offset=offset) for a in (q, k)]
    mx.eval(rotated)
    return np.array(rotated[0][0].astype(mx.float32)), np.array(rotated[1][0].astype(mx.float32))


class Fused:
    """Float32 weights of one block: ``first`` (rows of several projections stacked), ``second``."""

    def __init__(self, first: np.ndarray, first_bias: np.ndarray | None,
                 second: np.ndarray, second_bias: np.ndarray | None, threads: int,
                 shared: Sharing = Sharing.OFF) -> None:
        self.first, self.first_bias = first, first_bias
        self.second, self.second_bias = second, second_bias
        self.threads = threads
        """numpy's BLAS threads for this block's products (unless a model call set them)."""
        self.shared = shared
        """Which products (and whether prefill attention) are shared with the helper thread."""

    def project_first(self, x: np.ndarray) -> np.ndarray:
        """``x @ first.T (+ bias)``."""
        y = rows_product(x, self.first, self.shared)
        return y if self.first_bias is None else y + self.first_bias

    def project_second(self, x: np.ndarray) -> np.ndarray:
        """``x @ second.T (+ bias)``."""
        y = rows_product(x, self.second, self.shared)
        return y if self.second_bias is None else y + self.second_bias


def fused_of(module: nn.Module) -> Fused | None:
    """The block's fused float32 weights (None: not fused)."""
    return getattr(module, FUSED_ATTRIBUTE, None)


def _numpy_cache(cache: Any, dtype: mx.Dtype) -> NumpyKVCache | bool | None:
    """The cache as a NumpyKVCache (a plain KVCache is adopted), None for no cache, False when
    the numpy path cannot serve it (batched, rotating, quantized caches)."""
    if cache is None:
        return None
    if isinstance(cache, NumpyKVCache):
        return cache
    if type(cache) is KVCache:
        return adopt(cache, dtype)
    return False


class CpuLlamaAttention(llama.Attention):  # type: ignore[misc]  # mlx-lm is untyped
    """mlx-lm's llama attention, on numpy for one sequence (see the module docstring)."""

    def numpy_store(self, x: mx.array, mask: Any, cache: Any) -> NumpyKVCache | bool | None:
        """The numpy KV cache this call can use (None: no cache), or False when the call needs
        mlx-lm's attention (several sequences, a mask other than causal, another cache kind)."""
        usable = (fused_of(self) is not None and x.shape[0] == 1
                  and (mask is None or (isinstance(mask, str) and mask == "causal")))
        return _numpy_cache(cache, x.dtype) if usable else False

    def __call__(self, x: mx.array, mask: Any = None, cache: Any = None) -> mx.array:
        fused = fused_of(self)
        batch, length, _ = x.shape
        store = self.numpy_store(x, mask, cache)
        if store is False or store is True or fused is None:
            own: mx.array = super().__call__(x, mask, cache)
            return own
        with limited(fused.threads):
            out = self.numpy_call(fused, to_numpy(x), store, length)
        return mx.array(out.reshape(batch, length, -1), dtype=x.dtype)

    def numpy_call(self, fused: Fused, x: np.ndarray, store: NumpyKVCache | None, length: int) -> np.ndarray:
        """The block's output for ``x`` ``(L, hidden)`` in numpy (keys/values appended to ``store``)."""
        heads, kv_heads, dim = self.n_heads, self.n_kv_heads, self.head_dim
        qkv = fused.project_first(x)
        offset = 0 if store is None else store.offset
        q = qkv[:, :heads * dim].reshape(length, heads, dim).transpose(1, 0, 2)
        k = qkv[:, heads * dim:(heads + kv_heads) * dim].reshape(length, kv_heads, dim).transpose(1, 0, 2)
        v = qkv[:, (heads + kv_heads) * dim:].reshape(length, kv_heads, dim).transpose(1, 0, 2)
        q, k = _rope_pair(q, k, offset, self.rope)
        keys, values = (k, v) if store is None else store.append(k, v)
        return fused.project_second(attend(q, keys, values, self.scale, fused.shared.attention))

    def rows_call(self, fused: Fused, x: np.ndarray, caches: RowCaches, dtype: mx.Dtype) -> np.ndarray:
        """The block's output for one token of each of several sequences, ``x`` ``(rows, hidden)``,
        each row with its own cache (ragged lengths): one product per projection for all rows,
        rotary embedding at each row's position, one padded attention product."""
        heads, kv_heads, dim = self.n_heads, self.n_kv_heads, self.head_dim
        stores = caches.numpy_caches(dtype)
        rows = x.shape[0]
        qkv = fused.project_first(x)
        q = qkv[:, :heads * dim].reshape(rows, heads, dim)
        k = qkv[:, heads * dim:(heads + kv_heads) * dim].reshape(rows, kv_heads, dim)
        v = qkv[:, (heads + kv_heads) * dim:].reshape(rows, kv_heads, dim)
        offsets = [s.offset for s in stores]
        if type(self.rope) is nn.RoPE:
            cos, sin = _angles_at(np.array(offsets, dtype=np.float32), self.rope)
            q, k = _rotate(q, cos[:, None], sin[:, None], self.rope), _rotate(k, cos[:, None], sin[:, None], self.rope)
        else:
            pairs = [_rope_pair(q[r][:, None], k[r][:, None], offsets[r], self.rope) for r in range(rows)]
            q, k = np.stack([p[0][:, 0] for p in pairs]), np.stack([p[1][:, 0] for p in pairs])
        held = [store.append(k[r][:, None], v[r][:, None]) for r, store in enumerate(stores)]
        return fused.project_second(attend_rows(q, held, self.scale))

    def rows_many_call(self, fused: Fused, x: np.ndarray, caches: RowCaches, length: int,
                       dtype: mx.Dtype) -> np.ndarray:
        """The block's output for ``length`` tokens of each of several sequences, ``x``
        ``(rows*length, hidden)``, row ``r``'s first ``caches.counts[r]`` real (the rest padding):
        one product per projection for all positions, rotary embedding from each row's offset,
        only the real tokens' keys/values appended to each row's cache, causal attention per row."""
        heads, kv_heads, dim = self.n_heads, self.n_kv_heads, self.head_dim
        stores = caches.numpy_caches(dtype)
        rows = len(stores)
        counts = caches.counts if caches.counts is not None else [length] * rows
        if max(counts) > length:
            raise ValueError(f"RowCaches counts {counts} exceed the {length} positions fed")
        qkv = fused.project_first(x).reshape(rows, length, -1)
        q = qkv[..., :heads * dim].reshape(rows, length, heads, dim).transpose(0, 2, 1, 3)
        k = qkv[..., heads * dim:(heads + kv_heads) * dim].reshape(rows, length, kv_heads, dim).transpose(0, 2, 1, 3)
        v = qkv[..., (heads + kv_heads) * dim:].reshape(rows, length, kv_heads, dim).transpose(0, 2, 1, 3)
        offsets = [s.offset for s in stores]
        if type(self.rope) is nn.RoPE:
            positions = (np.array(offsets, dtype=np.float32)[:, None] + np.arange(length, dtype=np.float32)).ravel()
            cos, sin = (a.reshape(rows, 1, length, -1) for a in _angles_at(positions, self.rope))
            q, k = _rotate(q, cos, sin, self.rope), _rotate(k, cos, sin, self.rope)
        else:
            pairs = [_rope_pair(q[r], k[r], offsets[r], self.rope) for r in range(rows)]
            q, k = np.stack([p[0] for p in pairs]), np.stack([p[1] for p in pairs])
        held = [store.append(k[r][:, :counts[r]], v[r][:, :counts[r]]) for r, store in enumerate(stores)]
        out = attend_rows_many(q, held, counts, self.scale)
        return fused.project_second(out.reshape(rows * length, -1))


class CpuLlamaMLP(llama.MLP):  # type: ignore[misc]  # mlx-lm is untyped
    """mlx-lm's llama MLP (SwiGLU) on numpy: one fused gate/up product, SiLU, down."""

    def __call__(self, x: mx.array) -> mx.array:
        fused = fused_of(self)
        if fused is None:
            own: mx.array = super().__call__(x)
            return own
        with limited(fused.threads):
            out = self.numpy_call(fused, to_numpy(x))
        return mx.array(out.reshape(*x.shape[:-1], -1), dtype=x.dtype)

    @staticmethod
    def numpy_call(fused: Fused, x: np.ndarray) -> np.ndarray:
        """The block's output for ``x`` ``(rows, hidden)`` in numpy."""
        gate_up = fused.project_first(x)
        hidden = gate_up.shape[1] // 2
        gate, up = gate_up[:, :hidden], gate_up[:, hidden:]
        return fused.project_second(gate / (np.float32(1) + np.exp(-gate)) * up)


CPU_BLOCKS: dict[type, type] = {llama.Attention: CpuLlamaAttention, llama.MLP: CpuLlamaMLP}
"""Exactly these block classes get a numpy call (subclasses may compute something else)."""

_PROJECTIONS = {llama.Attention: (("q_proj", "k_proj", "v_proj"), "o_proj"),
                llama.MLP: (("gate_proj", "up_proj"), "down_proj")}


def _bias(module: nn.Module) -> np.ndarray | None:
    return np.array(module["bias"].astype(mx.float32)) if "bias" in module else None


def fuse_block(block: nn.Module, dense_of: Any, threads: int = 1, shared: Sharing = Sharing.OFF) -> bool:
    """Give ``block`` (an exact ``CPU_BLOCKS`` class) its fused float32 weights, re-pointing its
    projections' float32 copies at row views of them; False when a projection has no copy."""
    stacked_names, second_name = _PROJECTIONS[type(block)]
    stacked = [block[name] for name in stacked_names]
    second = block[second_name]
    fasts = [dense_of(m) for m in (*stacked, second)]
    if any(f is None or f.dense is None for f in fasts):
        return False
    first = np.concatenate([f.dense for f in fasts[:-1]], axis=0)
    biases = [_bias(m) for m in stacked]
    first_bias = None
    if any(b is not None for b in biases):
        first_bias = np.concatenate([b if b is not None else np.zeros(f.dense.shape[0], np.float32)
                                     for b, f in zip(biases, fasts[:-1], strict=True)])
    start = 0
    for fast in fasts[:-1]:
        rows = fast.dense.shape[0]
        fast.dense = first[start:start + rows]
        start += rows
    object.__setattr__(block, FUSED_ATTRIBUTE, Fused(first, first_bias, fasts[-1].dense, _bias(second), threads,
                                                        shared))
    block.__class__ = CPU_BLOCKS[type(block)]
    return True
