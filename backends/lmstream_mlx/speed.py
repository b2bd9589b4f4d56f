"""Speed options for mlx's CPU backend: split matrix-vector products over CPU streams, and run
products (decode steps, prefill chunks, batched steps) through numpy's BLAS.

Measured on the project's 2-core machine with the default model (docs/backends.md):

- mlx's CPU backend runs every stream on one thread, so a decode step uses one core.
  Splitting each projection's output rows into ``n`` parts, part ``i`` on stream ``i``,
  puts ``n`` cores to work. Every output element is computed as before (same kernel, same
  row): bit-identical results, zero-copy row views, no extra memory.
- mlx's CPU ``quantized_matmul`` dequantizes the weights once per input row, so 8 rows
  cost 8x one row, and mlx's bundled reference BLAS is no faster for dense weights. numpy's
  OpenBLAS on a float32 copy of the weights (counted in ``weights_bytes``) wins for every row
  count on CPU: ~18x on a decode step's one-row projections, 3x on the output head, 40-75x
  on a prefill chunk (benchmarks/mlx_cpu_products.py). ``blas_one_row`` sends one-row
  products there too; with ``cpu_blocks`` llama attention/MLP blocks and whole decoder
  layers run on numpy (cpu_layers.py, cpu_decoder.py). numpy's BLAS runs with
  ``blas_threads`` threads (threadpoolctl, set once per model call: blas_scope.py); on the
  loaded shared machine two OpenBLAS threads were up to 900x slower on small products.
- A batched decode step's few rows multiply block by block (``cpu_layers.rows_product``):
  OpenBLAS's GEMM packs the whole weight per call, ~2.5x a one-row GEMV for 8 rows.
- In a prefill call the output head keeps mlx's lazy product: its logits are never read,
  so it is never computed.

Nothing in the model's structure changes: the layers keep their class hierarchy (a subclass
whose call picks the path), their ``weight``/``scales``/``biases`` and their parameters, so
architectures that read ``embed_tokens.weight`` or check ``isinstance`` keep working.
"""

from __future__ import annotations

import os
import threading
from dataclasses import dataclass, field
from typing import Any

import mlx.core as mx
import mlx.nn as nn
import numpy as np

from .blas_scope import blas_thread_limit, limited, prefilling
from .cpu_decoder import fuse_layer
from .cpu_layers import CPU_BLOCKS, fuse_block, rows_product
from .cpu_share import Sharing
from .options import MlxOptions

__all__ = ["FAST_CLASSES", "FastMatmul", "SpeedPlan", "apply_speed_plan", "blas_thread_limit", "speed_up"]

MIN_ROWS_PER_PART = 64
"""Projections with fewer output rows per part are left whole (the split would cost more)."""
MAX_AUTO_STREAMS = 8
BLAS_MIN_ROWS = 2
"""Products with at least this many input rows go through BLAS when one-row products stay on
mlx's kernel (``blas_one_row=False``; the default sends one row to BLAS too: 15x faster)."""
BLAS_AUTO_MAX_BYTES = 1 << 30
"""``blas=None`` turns BLAS on (CPU only) when the float32 weight copies fit in this."""
DEFAULT_SHARING = Sharing.BATCHED
"""What ``cpu_share=None`` shares with a helper thread on CPU with 2+ usable cores: batched
decode steps' products (cpu_share.Sharing; docs/backends.md)."""
FAST_ATTRIBUTE = "_lmstream_fast"
THREADS_ATTRIBUTE = "_lmstream_blas_threads"

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
                 blas_threads: int = 1, min_rows: int = BLAS_MIN_ROWS, head: bool = False,
                 shared: Sharing = Sharing.OFF) -> None:
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
        self.min_rows = min_rows
        """Products with at least this many input rows go through BLAS."""
        self.head = head
        """The output head: in a prefill call its logits are never read, so it stays lazy."""
        self.shared = shared
        """Which products' blocks are shared with the helper thread (cpu_share.py)."""
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
        if self.dense is not None and rows >= self.min_rows and not (self.head and prefilling()):
            return self._blas(x, rows)
        if self.parts:
            return self._split(x)
        return None

    def _blas(self, x: mx.array, rows: int) -> mx.array:
        assert self.dense is not None
        flat = x.reshape(rows, x.shape[-1]).astype(mx.float32)
        mx.eval(flat)
        with limited(self._blas_threads):
            out = rows_product(np.asarray(flat), self.dense, self.shared)
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
    blas_one_row: bool = False
    """Whether one-row products (decode steps, the output head) go through BLAS too."""
    cpu_blocks: int = 0
    """Attention and MLP blocks computed on numpy (cpu_layers.py)."""
    cpu_layers: int = 0
    """Whole decoder layers (norms and residuals too) computed on numpy (cpu_decoder.py)."""
    cpu_share: Sharing = Sharing.OFF
    """Which BLAS products (and whether prefill attention) are shared with a helper thread."""
    applied: list[str] = field(default_factory=list)


HEAD_NAMES = ("lm_head",)
"""Linear layers that are the output head (a tied embedding's ``as_linear`` always is)."""


def _candidates(model: nn.Module) -> list[tuple[str, nn.Module]]:
    """Layers of exactly the sped-up classes, with their paths."""
    return [(name, m) for name, m in model.named_modules() if type(m) in FAST_CLASSES]


def _is_head(name: str, module: nn.Module) -> bool:
    return isinstance(module, nn.Embedding | nn.QuantizedEmbedding) or name.rsplit(".", 1)[-1] in HEAD_NAMES


def float32_bytes(modules: list[nn.Module]) -> int:
    """Bytes the float32 copies of these layers' weights would take."""
    total = 0
    for module in modules:
        rows, cols = module.weight.shape
        if hasattr(module, "scales"):
            cols = cols * 32 // module.bits
        total += rows * cols * 4
    return total


def blas_threads_of(model: nn.Module) -> int | None:
    """The BLAS thread count a model call should run under (None: no BLAS path on this model)."""
    threads: int | None = getattr(model, THREADS_ATTRIBUTE, None)
    return threads


def speed_up(model: nn.Module, parts: int, device: mx.Device, blas: bool, blas_threads: int = 1,
             one_row: bool = False, blocks: bool = False, share: Sharing = Sharing.OFF) -> SpeedPlan:
    """Give every Linear/QuantizedLinear/Embedding/QuantizedEmbedding its fast paths; with
    ``one_row`` one-row products use BLAS too; with ``blocks`` llama attention and MLP blocks
    run on numpy (cpu_layers.py); ``share``: which large BLAS products (and whether prefill
    attention) are shared with a helper thread (cpu_share.py)."""
    plan = SpeedPlan(cpu_streams=parts, blas_one_row=blas and one_row, cpu_share=share if blas else Sharing.OFF)
    min_rows = 1 if one_row else BLAS_MIN_ROWS
    for name, module in _candidates(model):
        fast = FastMatmul(module, parts, device, blas, blas_threads, min_rows, head=_is_head(name, module),
                          shared=share)
        if not fast.parts and fast.dense is None:
            continue
        object.__setattr__(module, FAST_ATTRIBUTE, fast)
        module.__class__ = FAST_CLASSES[type(module)]
        plan.split_layers += bool(fast.parts)
        plan.blas_layers += fast.dense is not None
        plan.blas_bytes += fast.dense_bytes
    if blas:
        object.__setattr__(model, THREADS_ATTRIBUTE, blas_threads)
    if blas and blocks:
        def dense_of(m: nn.Module) -> FastMatmul | None:
            return getattr(m, FAST_ATTRIBUTE, None)

        for _, block in list(model.named_modules()):
            if type(block) in CPU_BLOCKS and fuse_block(block, dense_of, blas_threads, share):
                plan.cpu_blocks += 1
        for _, layer in list(model.named_modules()):
            plan.cpu_layers += fuse_layer(layer)
    return plan


def sharing_of(cpu_share: bool | None, on_cpu: bool) -> Sharing:
    """``MlxOptions.cpu_share`` as a ``Sharing``: True all, False none, None ``DEFAULT_SHARING``
    on CPU with 2+ usable cores (else none)."""
    if cpu_share is not None:
        return Sharing.ALL if cpu_share else Sharing.OFF
    return DEFAULT_SHARING if on_cpu and usable_cores() >= 2 else Sharing.OFF


def apply_speed_plan(model: nn.Module, options: MlxOptions, device: mx.Device) -> SpeedPlan:
    """Apply the speed options: on CPU by default the row split over the usable cores, BLAS for
    every product (one row included) when the float32 copies fit in ``BLAS_AUTO_MAX_BYTES``,
    and llama attention/MLP blocks on numpy. Off CPU nothing changes unless asked for."""
    on_cpu = device.type == mx.cpu
    streams = options.cpu_streams
    if streams is None:
        streams = min(usable_cores(), MAX_AUTO_STREAMS) if on_cpu else 1
    blas = options.blas
    if blas is None:
        blas = on_cpu and not options.compile and float32_bytes([m for _, m in _candidates(model)]) <= BLAS_AUTO_MAX_BYTES
    one_row = options.blas_one_row if options.blas_one_row is not None else on_cpu
    blocks = options.cpu_blocks if options.cpu_blocks is not None else on_cpu
    share = sharing_of(options.cpu_share, on_cpu)
    plan = (speed_up(model, streams, device, blas, options.blas_threads, one_row, blocks, share)
            if streams > 1 or blas else SpeedPlan())
    if plan.split_layers:
        plan.applied.append(f"{plan.split_layers} matmuls split over {streams} streams")
    if plan.blas_layers:
        rows = "all" if plan.blas_one_row else "multi-row"
        plan.applied.append(f"{plan.blas_layers} {rows} matmuls on BLAS "
                            f"({plan.blas_bytes / 2**20:.0f} MiB float32 weights)")
    if plan.cpu_blocks:
        plan.applied.append(f"{plan.cpu_blocks} attention/MLP blocks on numpy "
                            f"({plan.cpu_layers} whole decoder layers)")
    if plan.cpu_share is Sharing.ALL:
        plan.applied.append("large products and prefill attention shared with a helper thread")
    elif plan.cpu_share is Sharing.BATCHED:
        plan.applied.append("batched steps' large products shared with a helper thread")
    if options.compile:
        plan.applied.append(f"{compile_mlps(model)} MLP blocks compiled")
    return plan
