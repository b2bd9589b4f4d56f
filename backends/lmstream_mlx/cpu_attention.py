"""Attention on numpy's BLAS for mlx's CPU backend, over a KV cache kept in numpy float32.

mlx's CPU wheel bundles a reference BLAS: its ``scaled_dot_product_attention`` for 512
queries over 2,048 keys (9 heads, dim 64) took 760 ms per layer on the project's 2-core
machine, ~25x what OpenBLAS needs (benchmarks/mlx_cpu_products.py). ``attend`` computes the
same attention with two BLAS products per key/value head and block of queries (each block
multiplies only the keys it can see), one ``exp`` pass in place and the row sums as a GEMV:
10-20% less CPU than one max and one sum pass more (benchmarks/mlx_cpu_attention.py). The
prefill blocks can be shared with a helper thread (cpu_share.py).

``NumpyKVCache`` is mlx-lm's ``KVCache`` with its keys and values in preallocated numpy
float32 buffers ``(kv_heads, capacity, head_dim)`` that grow by doubling, so a step appends
in place and attention reads ``buffer[:, :offset]`` views (no copy of the cache per step).
It keeps ``KVCache``'s API: ``offset``, ``state``, ``keys``/``values`` (mlx arrays, made on
request), ``trim``, ``is_trimmable``, ``nbytes``, ``to_quantized``, ``merge``, so the prompt
cache's trim and fork, batching and KV quantization keep working. ``adopt`` turns a plain
``KVCache`` (as mlx-lm's ``make_prompt_cache`` makes it) into one in place on first use.

Several sequences decoded together keep their own caches: ``RowCaches`` hands one layer's
caches of all rows to the numpy decoder layer (cpu_decoder.py), and ``attend_rows`` runs the
rows' one-token attention in one padded product over their ragged lengths (no merge into a
batch cache, no copy back when a row leaves). Speculative verification feeds each row several
tokens (its pending token and its drafts, ``RowCaches.counts`` of them, padded to the longest):
``attend_rows_many`` is the causal version over each row's cache plus its own new tokens.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import mlx.core as mx
import numpy as np
from mlx_lm.models.cache import KVCache

from .cpu_share import share

INITIAL_CAPACITY = 256
"""Token slots allocated at the first append (then doubled as needed)."""

_DTYPES = {"float16": mx.float16, "bfloat16": mx.bfloat16, "float32": mx.float32}


def attend(queries: np.ndarray, keys: np.ndarray, values: np.ndarray, scale: float,
           shared: bool = False) -> np.ndarray:
    """Causal softmax attention: queries ``(heads, L, D)`` for the last ``L`` of ``T`` positions
    over keys/values ``(kv_heads, T, D)``; returns ``(L, heads*D)`` float32. ``shared``: several
    queries' blocks are shared with the helper thread (cpu_share.py).

    Query head ``h`` reads key/value head ``h // (heads // kv_heads)`` (grouped-query
    attention as in mlx's ``scaled_dot_product_attention``).
    """
    heads, length, dim = queries.shape
    kv_heads = keys.shape[0]
    grouped = (queries * np.float32(scale)).reshape(kv_heads, heads // kv_heads * length, dim)
    out = (_decode_attention(grouped, keys, values) if length == 1
           else _prefill_attention(grouped, keys, values, length, shared))
    result: np.ndarray = out.reshape(heads, length, dim).transpose(1, 0, 2).reshape(length, heads * dim)
    return result


QUERY_BLOCK = 128
"""Prefill queries per block: each block skips the keys after its last query, and its scores
(``repeat * QUERY_BLOCK`` rows per key/value head) stay near the CPU caches' size (blocks of
64 and 128 measured 1.7x faster than all 512 queries at once over 2,048 keys,
benchmarks/mlx_cpu_products.py; 128 a little faster than 64, benchmarks/mlx_cpu_attention.py)."""
SAFE_EXPONENT = 60.0
"""Softmax skips subtracting each row's maximum when every row's maximum lies within +-this:
``exp`` neither overflows nor loses the largest terms then (e**60 ~ 1e26, far from float32's
3e38 even summed over a million keys; e**-60 ~ 9e-27, a normal float32), and the result is
the same up to float32 rounding. Saves one pass over the scores (~6% of attention)."""

_triangles: dict[int, np.ndarray] = {}


def _causal(size: int) -> np.ndarray:
    """``(size, size)`` float32: -inf above the diagonal, 0 elsewhere (cached per size)."""
    triangle = _triangles.get(size)
    if triangle is None:
        triangle = _triangles[size] = np.triu(np.full((size, size), -np.inf, dtype=np.float32), 1)
    return triangle


def _exp_rows(scores: np.ndarray) -> None:
    """``scores`` (2-D) replaced in place by ``exp(scores - c)`` with ``c`` per row: 0 when every
    row's maximum is within ``SAFE_EXPONENT`` (one pass fewer), else the row's maximum."""
    top = scores.max(axis=-1, keepdims=True)
    if top.max() > SAFE_EXPONENT or top.min() < -SAFE_EXPONENT:
        scores -= top
    np.exp(scores, out=scores)


def _prefill_attention(grouped: np.ndarray, keys: np.ndarray, values: np.ndarray, length: int,
                       shared: bool = False) -> np.ndarray:
    """Many queries, in blocks of ``QUERY_BLOCK``, one task per (block, key/value head) (with
    ``shared``, shared with the helper thread: cpu_share.py): scores against the keys up to the block's last
    position only, the causal triangle masked on the block's own keys, softmax, values."""
    kv_heads, rows, dim = grouped.shape
    repeat = rows // length
    offset = keys.shape[1] - length
    by_position = grouped.reshape(kv_heads, repeat, length, dim)
    out = np.empty((kv_heads, repeat, length, dim), dtype=np.float32)
    tasks = [_query_block(by_position, keys, values, out, group, start, min(start + QUERY_BLOCK, length), offset)
             for start in range(0, length, QUERY_BLOCK) for group in range(kv_heads)]
    share(tasks, shared)
    return out.reshape(kv_heads, rows, dim)


def _query_block(by_position: np.ndarray, keys: np.ndarray, values: np.ndarray, out: np.ndarray,
                 group: int, start: int, end: int, offset: int) -> Callable[[], None]:
    """The task computing ``out[group, :, start:end]`` (see ``_prefill_attention``)."""

    def attend_block() -> None:
        repeat, dim = by_position.shape[1], by_position.shape[3]
        size, visible = end - start, offset + end
        block = by_position[group, :, start:end].reshape(repeat * size, dim)
        scores: np.ndarray = block @ keys[group, :visible].T
        scores.reshape(repeat, size, visible)[..., offset + start:] += _causal(size)
        _exp_rows(scores)
        sums = scores @ np.ones((visible, 1), dtype=np.float32)  # a GEMV: faster than sum()
        result: np.ndarray = scores @ values[group, :visible]
        result /= sums
        out[group, :, start:end] = result.reshape(repeat, size, dim)

    return attend_block


def _decode_attention(grouped: np.ndarray, keys: np.ndarray, values: np.ndarray) -> np.ndarray:
    """One query per head: per key/value head ``K @ q.T`` (OpenBLAS reads the keys row by row:
    measured ~1.6x faster than ``q @ K.T`` over a 2,048-key cache view)."""
    out = np.empty(grouped.shape, dtype=np.float32)
    for group in range(grouped.shape[0]):
        scores = np.ascontiguousarray((keys[group] @ grouped[group].T).T)  # (repeat, total)
        scores -= scores.max(axis=-1, keepdims=True)  # 3 rows: cheaper than _exp_rows' check
        np.exp(scores, out=scores)
        sums = scores.sum(axis=-1, keepdims=True)
        np.matmul(scores, values[group], out=out[group])
        out[group] /= sums
    return out


def _padded(held: list[tuple[np.ndarray, np.ndarray]], dim: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The rows' lengths and their keys/values copied into zero-padded ``(rows, kv_heads,
    T_max, D)`` float32 buffers (one batched matmul then serves every row)."""
    kv_heads = held[0][0].shape[0]
    lengths = np.array([k.shape[1] for k, _ in held])
    total = int(lengths.max())
    keys = np.zeros((len(held), kv_heads, total, dim), dtype=np.float32)
    values = np.zeros((len(held), kv_heads, total, dim), dtype=np.float32)
    for row, (k, v) in enumerate(held):
        keys[row, :, :k.shape[1]] = k
        values[row, :, :v.shape[1]] = v
    return lengths, keys, values


def _weighted(scores: np.ndarray, values: np.ndarray) -> np.ndarray:
    """Softmax over the last axis of ``scores`` (in place, -inf masked), then the weighted sum
    of ``values``."""
    scores -= scores.max(axis=-1, keepdims=True)
    np.exp(scores, out=scores)
    sums = scores.sum(axis=-1, keepdims=True)
    out: np.ndarray = np.matmul(scores, values)
    out /= sums
    return out


def attend_rows(queries: np.ndarray, held: list[tuple[np.ndarray, np.ndarray]], scale: float) -> np.ndarray:
    """One-token attention of several sequences at once: queries ``(rows, heads, D)``, each
    row's keys/values ``(kv_heads, T_row, D)``; returns ``(rows, heads*D)`` float32.

    The rows' keys/values are copied into one zero-padded ``(rows, kv_heads, T_max, D)``
    buffer (short chat caches: kilobytes per layer) so two batched matmuls serve every row and
    head; the padding's scores are set to -inf before the softmax.
    """
    rows, heads, dim = queries.shape
    kv_heads = held[0][0].shape[0]
    lengths, keys, values = _padded(held, dim)
    total = keys.shape[2]
    grouped = (queries * np.float32(scale)).reshape(rows, kv_heads, heads // kv_heads, dim)
    scores: np.ndarray = np.matmul(grouped, keys.transpose(0, 1, 3, 2))  # (rows, kv, repeat, T)
    if (lengths < total).any():
        padding = np.arange(total)[None, :] >= lengths[:, None]
        scores[np.broadcast_to(padding[:, None, None, :], scores.shape)] = -np.inf
    out = _weighted(scores, values)
    result: np.ndarray = out.reshape(rows, heads * dim)
    return result


def attend_rows_many(queries: np.ndarray, held: list[tuple[np.ndarray, np.ndarray]], counts: Sequence[int],
                     scale: float) -> np.ndarray:
    """Causal attention of several tokens per row: queries ``(rows, heads, L, D)`` where row
    ``r``'s first ``counts[r]`` positions are real (the rest padding), each row's keys/values
    ``(kv_heads, T_r, D)`` ending with its ``counts[r]`` new entries; returns
    ``(rows, L, heads*D)`` float32.

    Position ``j`` of row ``r`` sees the row's keys up to its own (``T_r - counts[r] + j``); a
    padding position sees the row's keys up to its last real one (finite, never read).
    """
    rows, heads, length, dim = queries.shape
    kv_heads = held[0][0].shape[0]
    lengths, keys, values = _padded(held, dim)
    total = keys.shape[2]
    grouped = (queries * np.float32(scale)).reshape(rows, kv_heads, heads // kv_heads * length, dim)
    scores: np.ndarray = np.matmul(grouped, keys.transpose(0, 1, 3, 2))  # (rows, kv, repeat*L, T)
    real = np.asarray(counts)
    visible = (lengths - real)[:, None] + np.minimum(np.arange(1, length + 1)[None, :], real[:, None])  # (rows, L)
    hidden = np.arange(total)[None, None, :] >= visible[:, :, None]  # (rows, L, T)
    by_position = scores.reshape(rows, kv_heads, heads // kv_heads, length, total)
    by_position[np.broadcast_to(hidden[:, None, None], by_position.shape)] = -np.inf
    out = _weighted(scores, values)
    result: np.ndarray = out.reshape(rows, heads, length, dim).transpose(0, 2, 1, 3).reshape(rows, length, heads * dim)
    return result


class RowCaches:
    """One layer's KV caches of several sequences stepped together, one per row (each a
    ``NumpyKVCache``, or a plain ``KVCache`` adopted on first use): what the numpy decoder
    layer reads for a batched decode step instead of a merged ``BatchKVCache``.

    ``counts`` (verification: several tokens per row) says how many of each row's fed
    positions are real; the rest is padding, never stored in the row's cache. None: every
    position of every row is real (a decode step: one token each).
    """

    def __init__(self, caches: list[KVCache], counts: Sequence[int] | None = None) -> None:
        self.caches = caches
        self.counts = None if counts is None else [int(c) for c in counts]
        if self.counts is not None and (len(self.counts) != len(caches) or min(self.counts, default=1) < 1):
            raise ValueError(f"RowCaches needs one count >= 1 per row: {len(caches)} rows, counts {self.counts}")

    def numpy_caches(self, dtype: mx.Dtype) -> list[NumpyKVCache]:
        """The rows' caches as ``NumpyKVCache`` (plain ones adopted in place)."""
        return [adopt(c, dtype) for c in self.caches]


def row_caches(per_row: Sequence[Sequence[KVCache] | None],
               counts: Sequence[int] | None = None) -> list[RowCaches]:
    """Per layer, the ``RowCaches`` of these rows' layer caches (``per_row[row][layer]``);
    ``counts``: each row's real tokens in a call feeding several per row (``RowCaches``)."""
    if any(layers is None for layers in per_row):
        raise ValueError("every row needs its own layer caches (not merged into a batch cache)")
    return [RowCaches(list(layer), counts) for layer in zip(*(layers or () for layers in per_row), strict=True)]


class NumpyKVCache(KVCache):  # type: ignore[misc]  # mlx-lm is untyped
    """mlx-lm's ``KVCache`` with numpy float32 buffers (see the module docstring)."""

    def __init__(self) -> None:
        self._k: np.ndarray | None = None
        self._v: np.ndarray | None = None
        self.offset = 0
        self.dtype_name = "float32"
        """The dtype ``keys``/``values`` report as mlx arrays (the model's activations)."""

    @property
    def capacity(self) -> int:
        """Token slots allocated."""
        return 0 if self._k is None else int(self._k.shape[1])

    def append(self, keys: np.ndarray, values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Write ``(kv_heads, L, D)`` keys/values at ``offset`` (growing by doubling) and return
        views of everything held, ``(kv_heads, offset, D)``."""
        length = keys.shape[1]
        end = self.offset + length
        if self._k is None or self._v is None or end > self._k.shape[1]:
            capacity = max(INITIAL_CAPACITY, self.capacity)
            while capacity < end:
                capacity *= 2
            new_k = np.empty((keys.shape[0], capacity, keys.shape[2]), dtype=np.float32)
            new_v = np.empty((values.shape[0], capacity, values.shape[2]), dtype=np.float32)
            if self._k is not None and self._v is not None and self.offset:
                new_k[:, :self.offset] = self._k[:, :self.offset]
                new_v[:, :self.offset] = self._v[:, :self.offset]
            self._k, self._v = new_k, new_v
        self._k[:, self.offset:end] = keys
        self._v[:, self.offset:end] = values
        self.offset = end
        return self._k[:, :end], self._v[:, :end]

    def _as_mlx(self, buffer: np.ndarray | None) -> mx.array | None:
        if buffer is None:
            return None
        return mx.array(buffer[None], dtype=_DTYPES[self.dtype_name])

    @staticmethod
    def _as_numpy(value: Any) -> np.ndarray | None:
        if value is None:
            return None
        if value.shape[0] != 1:
            raise ValueError("NumpyKVCache holds one sequence (batch size 1)")
        return np.array(value[0].astype(mx.float32), dtype=np.float32)

    @property
    def keys(self) -> mx.array | None:
        """All allocated key slots as an mlx array ``(1, kv_heads, capacity, D)`` (a copy)."""
        return self._as_mlx(self._k)

    @keys.setter
    def keys(self, value: Any) -> None:
        self._k = self._as_numpy(value)

    @property
    def values(self) -> mx.array | None:
        """All allocated value slots as an mlx array (a copy)."""
        return self._as_mlx(self._v)

    @values.setter
    def values(self, value: Any) -> None:
        self._v = self._as_numpy(value)

    def update_and_fetch(self, keys: mx.array, values: mx.array) -> tuple[mx.array, mx.array]:
        """``KVCache``'s call for mlx attention: append and return everything held as mlx arrays."""
        self.dtype_name = str(keys.dtype).removeprefix("mlx.core.")
        held_k, held_v = self.append(np.array(keys[0].astype(mx.float32)), np.array(values[0].astype(mx.float32)))
        dtype = keys.dtype
        return mx.array(held_k[None], dtype=dtype), mx.array(held_v[None], dtype=dtype)

    def keys_and_values(self) -> tuple[mx.array | None, mx.array | None]:
        """What the cache holds, ``[..., :offset, :]``, as mlx arrays."""
        if self._k is None or self._v is None:
            return None, None
        dtype = _DTYPES[self.dtype_name]
        return (mx.array(self._k[None, :, :self.offset], dtype=dtype),
                mx.array(self._v[None, :, :self.offset], dtype=dtype))

    def empty(self) -> bool:
        """Whether nothing was ever stored."""
        return self._k is None

    @property
    def nbytes(self) -> int:
        """Bytes of the allocated buffers (as ``KVCache.nbytes``: capacity, not just ``offset``)."""
        if self._k is None or self._v is None:
            return 0
        return int(self._k.nbytes + self._v.nbytes)


def adopt(cache: KVCache, dtype: mx.Dtype) -> NumpyKVCache:
    """Turn a plain ``KVCache`` into a ``NumpyKVCache`` in place (its entries copied once)."""
    if isinstance(cache, NumpyKVCache):
        return cache
    keys, values, offset = cache.keys, cache.values, cache.offset
    cache.__dict__.pop("keys", None)
    cache.__dict__.pop("values", None)
    cache.__class__ = NumpyKVCache
    adopted: NumpyKVCache = cache
    adopted._k = adopted._v = None
    adopted.offset = 0
    adopted.dtype_name = str(dtype).removeprefix("mlx.core.")
    if keys is not None and values is not None and offset:
        adopted.append(np.array(keys[0, :, :offset].astype(mx.float32)),
                       np.array(values[0, :, :offset].astype(mx.float32)))
    return adopted
