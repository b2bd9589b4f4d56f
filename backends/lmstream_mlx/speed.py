"""Speed options for mlx's CPU backend: split matrix-vector products over CPU streams, and run
multi-row products (prefill chunks, batched decode steps) through numpy's BLAS.

Measured on the project's 2-core machine with the default model (docs/backends.md):

- mlx's CPU backend runs every stream on one thread, so a decode step uses one core.
  Splitting each projection's output rows into ``n`` parts, part ``i`` on stream ``i``,
  puts ``n`` cores to work. Every output element is computed as before (same kernel, same
  row): bit-identical results, zero-copy row views, no extra memory.
- mlx's CPU ``quantized_matmul`` dequantizes the weights once per input row, so 8 rows
  cost 8x one row (a batched decode step of 8 sequences took ~10x a single one), and mlx's
  bundled reference BLAS is no faster for dense weights. numpy's OpenBLAS on a float32 copy
  of the weights makes 8 rows cost ~1.2x one row and a 512-row prefill chunk ~40x faster,
  at the price of the float32 copy in memory (counted in ``weights_bytes``). Each product
  runs with numpy's BLAS limited to ``blas_threads`` threads (threadpoolctl, when installed):
  on the loaded shared machine two OpenBLAS threads were 2-3x faster or 50x slower by turns.

Nothing in the model's structure changes: the layers keep their class hierarchy (a subclass
whose call picks the path), their ``weight``/``scales``/``biases`` and their parameters, so
architectures that read ``embed_tokens.weight`` or check ``isinstance`` keep working.
"""

from __future__ import annotations

import contextlib
import os
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import mlx.core as mx
import mlx.nn as nn
import numpy as np

from .options import MlxOptions

MIN_ROWS_PER_PART = 64
"""Projections with fewer output rows per part are left whole (the split would cost more)."""
MAX_AUTO_STREAMS = 8
BLAS_MIN_ROWS = 2
"""Products with at least this many input rows go through BLAS (one row: mlx's kernel wins)."""
BLAS_AUTO_MAX_BYTES = 1 << 30
"""``blas=None`` turns BLAS on (CPU only) when the float32 weight copies fit in this."""
FAST_ATTRIBUTE = "_lmstream_fast"

_local = threading.local()


def usable_cores() -> int:
    """Cores this process may run on."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


def extra_streams(count: int, device: mx.Device) -> list[Any]:
    """``count`` streams of this thread beyond its default one (mlx streams are per thread)."""
    cache: dict[tuple[str, int], list[Any]] = getattr(_local, "streams", None) or {}
    _local.streams = cache
    key = (str(device), count)
    streams = cache.get(key)
    if streams is None:
        streams = cache[key] = [mx.new_stream(device) for _ in range(count)]
    return streams


_blas_pools: list[Any] = []


@contextlib.contextmanager
def blas_thread_limit(threads: int) -> Iterator[None]:
    """Limit numpy's BLAS to ``threads`` threads inside the block (no-op without threadpoolctl)."""
    if not _blas_pools:
        try:
            from threadpoolctl import ThreadpoolController
        except ImportError:
            _blas_pools.append(None)
        else:
            _blas_pools.append(ThreadpoolController().select(user_api="blas"))
    pool = _blas_pools[0]
    if pool is None:
        yield
        return
    with pool.limit(limits=threads):
        yield


def _bounds(rows: int, parts: int) -> list[tuple[int, int]]:
    step, extra = divmod(rows, parts)
    bounds, start = [], 0
    for i in range(parts):
        end = start + step + (1 if i < extra else 0)
        bounds.append((start, end))
        start = end
    return bounds


def dense_weight(module: nn.Module) -> mx.array:
    """The module's weight as a float32 matrix (dequantized when quantized)."""
    if hasattr(module, "scales"):
        return mx.dequantize(module.weight, module.scales, module.get("biases"), module.group_size,
                             module.bits, mode=getattr(module, "mode", "affine")).astype(mx.float32)
    weight: mx.array = module.weight
    return weight.astype(mx.float32)


class FastMatmul:
    """``x @ W.T`` for one layer: BLAS on a float32 copy for many rows, else a row split.

    A plain object (not an ``nn.Module``), so nothing here shows up in the model's parameters.
    """

    def __init__(self, source: nn.Module, parts: int, device: mx.Device, blas: bool,
                 blas_threads: int = 1) -> None:
        quantized = hasattr(source, "scales")
        names = ("weight", "scales", "biases") if quantized else ("weight",)
        rows = source.weight.shape[0]
        self.parts: list[dict[str, mx.array]] = []
        if parts > 1 and rows >= parts * MIN_ROWS_PER_PART:
            self.parts = [{n: source[n][a:b] for n in names if source.get(n) is not None}
                          for a, b in _bounds(rows, parts)]
        self._quantization = ((source.group_size, source.bits, getattr(source, "mode", "affine"))
                              if quantized else None)
        self._device = device
        self._blas_threads = blas_threads
        self.dense: np.ndarray | None = None
        if blas:
            weight = dense_weight(source)
            mx.eval(weight)
            self.dense = np.array(weight, copy=True)

    @property
    def dense_bytes(self) -> int:
        """Bytes of the float32 copy (0 without BLAS)."""
        return 0 if self.dense is None else int(self.dense.nbytes)

    def matmul(self, x: mx.array) -> mx.array | None:
        """The product through a fast path, or None when the layer's own call is best."""
        rows = x.size // x.shape[-1] if x.ndim else 1
        if self.dense is not None and rows >= BLAS_MIN_ROWS:
            return self._blas(x, rows)
        if self.parts:
            return self._split(x)
        return None

    def _blas(self, x: mx.array, rows: int) -> mx.array:
        assert self.dense is not None
        flat = x.reshape(rows, x.shape[-1]).astype(mx.float32)
        mx.eval(flat)
        with blas_thread_limit(self._blas_threads):
            out = np.asarray(flat) @ self.dense.T
        y = mx.array(out).reshape(*x.shape[:-1], self.dense.shape[0])
        return y if x.dtype == mx.float32 else y.astype(x.dtype)

    def _split(self, x: mx.array) -> mx.array:
        streams = extra_streams(len(self.parts) - 1, self._device)
        outputs = []
        for i, part in enumerate(self.parts):
            stream = None if i == 0 else streams[i - 1]
            if self._quantization is None:
                outputs.append(mx.matmul(x, part["weight"].T, stream=stream))
            else:
                group_size, bits, mode = self._quantization
                outputs.append(mx.quantized_matmul(x, part["weight"], part["scales"], part.get("biases"),
                                                   transpose=True, group_size=group_size, bits=bits,
                                                   mode=mode, stream=stream))
        return mx.concatenate(outputs, axis=-1)


def _fast(module: nn.Module) -> FastMatmul:
    return getattr(module, FAST_ATTRIBUTE)  # type: ignore[no-any-return]


def _linear_call(module: Any, x: mx.array, own: Any) -> mx.array:
    y = _fast(module).matmul(x)
    if y is None:
        return own(x)  # type: ignore[no-any-return]
    return y + module["bias"] if "bias" in module else y


class FastLinear(nn.Linear):  # type: ignore[misc]  # mlx.nn is untyped
    """An ``nn.Linear`` whose product takes the fast paths (set up by ``speed_up``)."""

    def __call__(self, x: mx.array) -> mx.array:
        return _linear_call(self, x, super().__call__)


class FastQuantizedLinear(nn.QuantizedLinear):  # type: ignore[misc]  # mlx.nn is untyped
    """An ``nn.QuantizedLinear`` whose product takes the fast paths."""

    def __call__(self, x: mx.array) -> mx.array:
        return _linear_call(self, x, super().__call__)


class FastEmbedding(nn.Embedding):  # type: ignore[misc]  # mlx.nn is untyped
    """An ``nn.Embedding`` whose ``as_linear`` (a tied output head) takes the fast paths."""

    def as_linear(self, x: mx.array) -> mx.array:
        y = _fast(self).matmul(x)
        return super().as_linear(x) if y is None else y


class FastQuantizedEmbedding(nn.QuantizedEmbedding):  # type: ignore[misc]  # mlx.nn is untyped
    """An ``nn.QuantizedEmbedding`` whose ``as_linear`` takes the fast paths."""

    def as_linear(self, x: mx.array) -> mx.array:
        y = _fast(self).matmul(x)
        return super().as_linear(x) if y is None else y


FAST_CLASSES: dict[type, type] = {nn.Linear: FastLinear, nn.QuantizedLinear: FastQuantizedLinear,
                                  nn.Embedding: FastEmbedding, nn.QuantizedEmbedding: FastQuantizedEmbedding}
"""Exactly these classes are sped up (subclasses may compute something else: left alone)."""


class CompiledBlock(nn.Module):  # type: ignore[misc]  # mlx.nn is untyped
    """A sub-module whose call is ``mx.compile``d (traced once per input shape)."""

    def __init__(self, inner: nn.Module) -> None:
        super().__init__()
        self.inner = inner
        self._compiled = mx.compile(inner.__call__)

    def __call__(self, x: mx.array) -> mx.array:
        return self._compiled(x)  # type: ignore[no-any-return]


def compile_mlps(model: nn.Module) -> int:
    """Compile each transformer block's MLP (fuses its element-wise work); returns how many."""
    count = 0
    for layer in getattr(model, "layers", []):
        mlp = getattr(layer, "mlp", None)
        if isinstance(mlp, nn.Module) and not isinstance(mlp, CompiledBlock):
            layer.mlp = CompiledBlock(mlp)
            count += 1
    return count


@dataclass
class SpeedPlan:
    """What was applied to a model for speed (shown in docs and benchmarks)."""

    cpu_streams: int = 1
    split_layers: int = 0
    blas_layers: int = 0
    blas_bytes: int = 0
    """Bytes of the float32 weight copies BLAS multiplies with."""
    applied: list[str] = field(default_factory=list)


def _candidates(model: nn.Module) -> list[nn.Module]:
    """Layers of exactly the sped-up classes (an embedding only counts if it has ``as_linear``)."""
    return [m for _, m in model.named_modules() if type(m) in FAST_CLASSES]


def float32_bytes(modules: list[nn.Module]) -> int:
    """Bytes the float32 copies of these layers' weights would take."""
    total = 0
    for module in modules:
        rows, cols = module.weight.shape
        if hasattr(module, "scales"):
            cols = cols * 32 // module.bits
        total += rows * cols * 4
    return total


def speed_up(model: nn.Module, parts: int, device: mx.Device, blas: bool, blas_threads: int = 1) -> SpeedPlan:
    """Give every Linear/QuantizedLinear/Embedding/QuantizedEmbedding its fast paths."""
    plan = SpeedPlan(cpu_streams=parts)
    for module in _candidates(model):
        fast = FastMatmul(module, parts, device, blas, blas_threads)
        if not fast.parts and fast.dense is None:
            continue
        object.__setattr__(module, FAST_ATTRIBUTE, fast)
        module.__class__ = FAST_CLASSES[type(module)]
        plan.split_layers += bool(fast.parts)
        plan.blas_layers += fast.dense is not None
        plan.blas_bytes += fast.dense_bytes
    return plan


def apply_speed_plan(model: nn.Module, options: MlxOptions, device: mx.Device) -> SpeedPlan:
    """Apply the speed options: on CPU by default the row split over the usable cores, and
    BLAS for multi-row products when the float32 copies fit in ``BLAS_AUTO_MAX_BYTES``."""
    on_cpu = device.type == mx.cpu
    streams = options.cpu_streams
    if streams is None:
        streams = min(usable_cores(), MAX_AUTO_STREAMS) if on_cpu else 1
    blas = options.blas
    if blas is None:
        blas = on_cpu and not options.compile and float32_bytes(_candidates(model)) <= BLAS_AUTO_MAX_BYTES
    plan = speed_up(model, streams, device, blas, options.blas_threads) if streams > 1 or blas else SpeedPlan()
    if plan.split_layers:
        plan.applied.append(f"{plan.split_layers} matmuls split over {streams} streams")
    if plan.blas_layers:
        plan.applied.append(f"{plan.blas_layers} multi-row matmuls on BLAS "
                            f"({plan.blas_bytes / 2**20:.0f} MiB float32 weights)")
    if options.compile:
        plan.applied.append(f"{compile_mlps(model)} MLP blocks compiled")
    return plan
