"""One sequence's decode state: prefill chunks, a step's model call, sampling and the
constraint's mask (as mlx-lm's generate_step), and prompt-cache reuse.

The batch runner (``batch``) holds one ``DecodeSetup`` per sequence; it is the backend's
only decode path (a single stream is the runner with one row).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import mlx.core as mx
import mlx.nn as nn
from mlx_lm.generate import maybe_quantize_kv_cache

from lmstream import GenerationParameters
from lmstream.backend import TokenConstraint, common_prefix_length

from .blas_scope import model_call
from .cache import MlxPromptCache
from .cpu_attention import NumpyKVCache
from .sampling import LogitsProcessor, Sampler, constraint_mask, sequence_logprobs
from .speed import blas_threads_of


@dataclass
class DecodeSetup:
    """What one generation's steps need: the model call, sampling and KV-quantization settings."""

    model: nn.Module
    cache: MlxPromptCache
    sampler: Sampler
    processors: list[LogitsProcessor]
    parameters: GenerationParameters
    history: mx.array | None = None
    """Every token fed so far (for the penalty processors); None when no processor needs it."""
    stats: dict[str, int] = field(default_factory=dict)
    constraint: TokenConstraint | None = None
    """Structured output (``control.constraint``): masks the logits of every step."""
    sampled_fed: bool = False

    def quantize_kv(self) -> None:
        """Switch layer caches to quantized ones once past ``quantized_kv_start`` (mlx-lm's rule)."""
        p = self.parameters
        if p.kv_bits is not None and self.cache.layers is not None:
            maybe_quantize_kv_cache(self.cache.layers, p.quantized_kv_start, p.kv_group_size, p.kv_bits)

    def prefill(self, chunk: Sequence[int]) -> None:
        """Run a chunk of prompt tokens through the model, filling the KV cache only."""
        layers = self.cache.layers
        ids = mx.array(list(chunk), dtype=mx.uint32)
        with model_call(blas_threads_of(self.model), prefill=True):
            self.model(ids[None], cache=layers)
        self.quantize_kv()
        assert layers is not None
        mx.eval([c.state for c in self.cache.layers or [] if not isinstance(c, NumpyKVCache)])
        self.record(ids)
        self.cache.extend(list(chunk))

    def step(self, ids: mx.array) -> mx.array:
        """Feed ``ids`` (1-D) and return the sampled next token (lazy)."""
        layers = self.cache.layers
        with model_call(blas_threads_of(self.model)):
            logits = self.model(ids[None], cache=layers)[:, -1, :]
        self.record(ids)
        mask = self.next_mask(logits, ids)
        self.quantize_kv()
        return self.sampler(sequence_logprobs(logits, self.processors, self.history, mask))

    def next_mask(self, logits: mx.array, fed: mx.array) -> Any:
        """The structured-output mask for the next token (None: unconstrained). The first step
        feeds the prompt's last token; later ones the token sampled before, which advances the
        constraint."""
        if self.constraint is None:
            return None
        mask = constraint_mask(logits, fed if self.sampled_fed else None, self.constraint)
        self.sampled_fed = True
        return mask

    def record(self, ids: mx.array) -> None:
        """Add fed ids to the history the penalty processors read (when any needs it)."""
        if self.processors:
            self.history = ids if self.history is None else mx.concatenate([self.history, ids])


def reuse_cache(cache: MlxPromptCache, prompt: Sequence[int]) -> int:
    """Trim ``cache`` to its common prefix with ``prompt`` (one prompt token always stays to
    prefill, so the model yields logits); returns how many prompt tokens the cache covers."""
    held = cache.tokens
    keep = min(common_prefix_length(held, prompt), len(prompt) - 1)
    if keep < len(held):
        cache.trim(len(held) - keep)
        if len(cache) != keep:  # a rotated cache could not trim and was reset
            keep = len(cache)
    return keep
