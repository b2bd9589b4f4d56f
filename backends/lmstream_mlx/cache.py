"""MlxPromptCache: mlx-lm's per-layer KV caches plus the token ids they hold.

The layer caches are made on first use, in the layout the generation asks for (plain,
rotating for ``max_kv_size``, quantized after ``quantized_kv_start`` for ``kv_bits``).
A later generation asking for another layout starts the cache afresh: the KV entries
of one layout cannot be reused by another.

For the core's prefix cache, ``fork`` deep-copies the layer caches (as mlx-lm's server does
for its LRU prompt cache), ``can_trim`` says whether every layer can go back (a rotated
window, an SSM/recurrent ``ArraysCache`` cannot: such caches are reused only at exactly the
length they hold) and ``nbytes`` counts what the layers allocated.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass
from typing import Any

import mlx.nn as nn
from mlx_lm.models.cache import KVCache, RotatingKVCache, make_prompt_cache

from lmstream import GenerationParameters, PromptCache

from .cpu_attention import NumpyKVCache

ROTATING_KEEP = 4
"""Tokens a rotating cache never evicts (attention sinks), as in mlx-lm."""


@dataclass(frozen=True)
class CacheLayout:
    """What kind of KV cache a generation needs."""

    max_kv_size: int | None = None
    kv_bits: int | None = None
    kv_group_size: int = 64
    quantized_kv_start: int = 0

    @classmethod
    def of(cls, parameters: GenerationParameters) -> CacheLayout:
        """The layout ``parameters`` ask for."""
        return cls(parameters.max_kv_size, parameters.kv_bits, parameters.kv_group_size,
                   parameters.quantized_kv_start)


def make_layer_caches(model: nn.Module, layout: CacheLayout) -> list[Any]:
    """mlx-lm layer caches for ``model``; a rotating cache when ``layout.max_kv_size`` is set."""
    layers: list[Any] = make_prompt_cache(model)
    if layout.max_kv_size is None:
        return layers
    if not all(type(c) is KVCache for c in layers):
        kinds = sorted({type(c).__name__ for c in layers})
        raise ValueError(f"max_kv_size needs plain attention caches; this model uses {', '.join(kinds)}")
    return [RotatingKVCache(max_size=layout.max_kv_size, keep=ROTATING_KEEP) for _ in layers]


class MlxPromptCache(PromptCache):
    """A reusable prompt cache for one mlx model (pass it back with ``cache=``)."""

    def __init__(self, model: nn.Module) -> None:
        self._model = model
        self.layers: list[Any] | None = None
        """mlx-lm layer caches, None until a generation makes them."""
        self.layout: CacheLayout | None = None
        self._tokens: list[int] = []

    @property
    def tokens(self) -> list[int]:
        """The token ids whose keys/values the cache holds, in order."""
        return list(self._tokens)

    def __len__(self) -> int:
        return len(self._tokens)

    def prepare(self, layout: CacheLayout) -> None:
        """Make the layer caches for ``layout``, dropping what a different layout held."""
        if self.layers is not None and self.layout == layout:
            return
        self.reset()
        self.layers = make_layer_caches(self._model, layout)
        self.layout = layout

    def reset(self) -> None:
        """Forget everything (frees the KV memory once nothing else holds it)."""
        self.layers = None
        self.layout = None
        self._tokens = []

    @property
    def trimmable(self) -> bool:
        """Whether tokens can be dropped from the end (a rotated cache cannot)."""
        return self.layers is None or all(c.is_trimmable() for c in self.layers)

    @property
    def can_trim(self) -> bool:
        """The contract's name for ``trimmable``."""
        return self.trimmable

    def fork(self) -> MlxPromptCache:
        """An independent copy (layer caches deep-copied): extending or trimming it leaves
        this cache as it is."""
        clone = MlxPromptCache(self._model)
        clone.layout = self.layout
        clone._tokens = list(self._tokens)
        if self.layers is not None:
            clone.layers = copy.deepcopy(self.layers)
        return clone

    def trim(self, count: int) -> int:
        """Drop ``count`` tokens from the end; a cache that cannot trim starts afresh instead."""
        count = min(max(count, 0), len(self._tokens))
        if count == 0:
            return 0
        if self.layers is None or not self.trimmable:
            dropped, layout = len(self._tokens), self.layout
            self.reset()
            if layout is not None:
                self.prepare(layout)
            return dropped
        for layer in self.layers:
            layer.trim(count)
        del self._tokens[-count:]
        return count

    def extend(self, token_ids: list[int]) -> None:
        """Record tokens whose keys/values were just written to the layer caches."""
        self._tokens.extend(token_ids)

    def truncate_tokens(self, length: int) -> None:
        """Keep the first ``length`` recorded ids (after the layer caches were trimmed to match)."""
        del self._tokens[length:]

    @property
    def nbytes(self) -> int:
        """Bytes the layer caches have allocated."""
        if self.layers is None:
            return 0
        return sum(int(c.nbytes) for c in self.layers if not c.empty())

    @property
    def used_bytes(self) -> int:
        """Bytes holding live entries (allocation grows in steps, so this is at most ``nbytes``)."""
        if self.layers is None:
            return 0
        used = 0
        for layer in self.layers:
            if layer.empty():
                continue
            if not hasattr(layer, "keys"):  # a fixed-size state (SSM/conv ArraysCache): all used
                used += int(layer.nbytes)
                continue
            capacity = _capacity(layer)
            filled = min(layer.offset, capacity) if capacity else 0
            used += int(layer.nbytes * filled / capacity) if capacity else 0
        return used


def _capacity(layer: Any) -> int:
    """Token slots a layer cache has allocated (a numpy-backed layer says so itself: reading its
    ``keys`` would copy the whole buffer into mlx)."""
    if isinstance(layer, NumpyKVCache):
        return layer.capacity
    keys = layer.keys
    first = keys[0] if isinstance(keys, tuple | list) else keys
    return int(first.shape[2])
