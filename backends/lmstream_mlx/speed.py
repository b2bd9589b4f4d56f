"""Speed options. CPU: spread each matrix multiply over several mlx CPU streams (one thread each).

mlx's CPU backend runs every stream on a single thread, so a model uses one core. Splitting
each projection's output rows into ``n`` parts and running part ``i`` on stream ``i`` puts
``n`` cores to work. Every output element is computed exactly as before (same kernel, same
row), so results are bit-identical; the parts are zero-copy row views of the original
weights, so memory does not grow. ``compile=True`` compiles each block's MLP (off by default:
no gain measured on CPU). See docs/backends.md for the measurements.
"""

from __future__ import annotations

import os
import threading
from dataclasses import dataclass, field
from typing import Any

import mlx.core as mx
import mlx.nn as nn
from mlx.utils import tree_unflatten

from .options import MlxOptions

MIN_ROWS_PER_PART = 64
"""Projections with fewer output rows per part are left whole (the split would cost more)."""
MAX_AUTO_STREAMS = 8

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


class RowSplitMatmul(nn.Module):  # type: ignore[misc]  # mlx.nn is untyped
    """``x @ W.T`` for a (possibly quantized) weight split by output rows over several streams."""

    def __init__(self, source: nn.Module, parts: int, device: mx.Device) -> None:
        super().__init__()
        quantized = hasattr(source, "scales")
        names = ("weight", "scales", "biases") if quantized else ("weight",)
        self.parts = [{n: getattr(source, n)[a:b] for n in names if getattr(source, n, None) is not None}
                      for a, b in _bounds(source.weight.shape[0], parts)]
        self._quantization = ((source.group_size, source.bits, getattr(source, "mode", "affine"))
                              if quantized else None)
        self._device = device

    def matmul(self, x: mx.array) -> mx.array:
        """``x`` times the transposed weight, one part per stream, concatenated."""
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


class ParallelLinear(RowSplitMatmul):
    """A Linear or QuantizedLinear computed over several CPU streams."""

    def __init__(self, source: nn.Module, parts: int, device: mx.Device) -> None:
        super().__init__(source, parts, device)
        if "bias" in source:
            self.bias = source.bias

    def __call__(self, x: mx.array) -> mx.array:
        y = self.matmul(x)
        return y + self.bias if "bias" in self else y


class ParallelHeadEmbedding(nn.Module):  # type: ignore[misc]
    """An (optionally quantized) embedding whose ``as_linear`` (the tied output head) is split."""

    def __init__(self, source: nn.Module, parts: int, device: mx.Device) -> None:
        super().__init__()
        self.embedding = source
        self.head = RowSplitMatmul(source, parts, device)

    def __call__(self, ids: mx.array) -> mx.array:
        return self.embedding(ids)  # type: ignore[no-any-return]

    def as_linear(self, x: mx.array) -> mx.array:
        return self.head.matmul(x)


class CompiledBlock(nn.Module):  # type: ignore[misc]
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
    applied: list[str] = field(default_factory=list)


def split_matmuls(model: nn.Module, parts: int, device: mx.Device) -> int:
    """Replace every big enough Linear/QuantizedLinear and tied head; returns how many."""
    replacements: list[tuple[str, nn.Module]] = []
    for path, module in model.named_modules():
        if isinstance(module, nn.Linear | nn.QuantizedLinear):
            if module.weight.shape[0] >= parts * MIN_ROWS_PER_PART:
                replacements.append((path, ParallelLinear(module, parts, device)))
        elif isinstance(module, nn.Embedding | nn.QuantizedEmbedding):
            if module.weight.shape[0] >= parts * MIN_ROWS_PER_PART:
                replacements.append((path, ParallelHeadEmbedding(module, parts, device)))
    if replacements:
        model.update_modules(tree_unflatten(replacements))
    return len(replacements)


def apply_speed_plan(model: nn.Module, options: MlxOptions, device: mx.Device) -> SpeedPlan:
    """Apply the speed options; on CPU the matmuls are split over the usable cores by default."""
    plan = SpeedPlan()
    streams = options.cpu_streams
    if streams is None:
        streams = min(usable_cores(), MAX_AUTO_STREAMS) if device.type == mx.cpu else 1
    if streams > 1:
        plan.split_layers = split_matmuls(model, streams, device)
        plan.cpu_streams = streams
        plan.applied.append(f"{plan.split_layers} matmuls split over {streams} streams")
    if options.compile:
        plan.applied.append(f"{compile_mlps(model)} MLP blocks compiled")
    return plan
