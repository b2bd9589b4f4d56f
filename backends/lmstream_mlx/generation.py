"""The token iterator: prompt-cache reuse, chunked prefill, pipelined decode (as mlx-lm's generate_step).

Invariant kept at every ``yield`` and in the ``finally``: ``cache.tokens`` are exactly the
ids whose keys/values the layer caches hold (or will hold once the queued step runs).
Decode keeps one step in flight (``mx.async_eval``): while the consumer handles token n,
the model already computes token n+1, so token n is fed to the cache before it is yielded.
"""

from __future__ import annotations

import contextlib
import math
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

import mlx.core as mx
import mlx.nn as nn
from mlx_lm.generate import maybe_quantize_kv_cache

from lmstream import GenerationParameters
from lmstream.backend import GenerationControl, common_prefix_length

from . import memory
from .blas_scope import model_call
from .cache import CacheLayout, MlxPromptCache
from .cpu_attention import NumpyKVCache
from .sampling import (
    LogitsProcessor,
    Sampler,
    constraint_mask,
    make_processors,
    make_token_sampler,
    sequence_logprobs,
)
from .speed import blas_threads_of
from .validation import validate_request

CLEAR_CACHE_EVERY = 256
"""Decode steps between returns of mlx's buffer cache (mlx-lm does the same)."""


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
    constraint: Any = None
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


def decode_limit(parameters: GenerationParameters, prompt_len: int, context_length: int | None) -> float:
    """Tokens the core will pull at most (max_tokens capped by the context, as the core caps it)."""
    limit: float = parameters.max_tokens if parameters.max_tokens is not None else math.inf
    if context_length is not None and parameters.max_kv_size is None:
        limit = min(limit, max(context_length - prompt_len, 0))
    return limit


def token_iterator(model: nn.Module, prompt: Sequence[int], parameters: GenerationParameters,
                   cache: MlxPromptCache | None, control: GenerationControl, *,
                   stream: Any, vocab_size: int, context_length: int | None,
                   weights_bytes: int) -> Iterator[int]:
    """Prefill ``prompt`` (reusing ``cache``) and yield sampled token ids until closed."""
    prompt = [int(t) for t in prompt]
    validate_request(prompt, parameters, vocab_size)
    owned = cache is None
    work = MlxPromptCache(model) if cache is None else cache
    setup = DecodeSetup(model, work, make_token_sampler(parameters, vocab_size),
                        make_processors(parameters, vocab_size), parameters,
                        constraint=control.constraint)
    limit = decode_limit(parameters, len(prompt), context_length)
    figures = control.memory
    figures["weights_bytes"] = weights_bytes
    pending: mx.array | None = None
    try:
        with mx.stream(stream):
            work.prepare(CacheLayout.of(parameters))
            memory.reset_peak()
            figures["baseline_bytes"] = memory.active_bytes()
            cached = reuse_cache(work, prompt)
            if setup.processors and cached:
                setup.history = mx.array(prompt[:cached], dtype=mx.uint32)
            rest = prompt[cached:]
            total = len(rest)
            control.prefill_progress(0, total)
            done = 0
            while total - done > 1:
                if control.cancelled:
                    return
                n = min(parameters.prefill_step_size, total - done - 1)
                setup.prefill(rest[done:done + n])
                done += n
                control.prefill_progress(done, total)
                memory.clear_cache()
            if control.cancelled:
                return
            y = setup.step(mx.array(rest[-1:], dtype=mx.uint32))
            mx.async_eval(y)  # type: ignore[no-untyped-call]  # untyped in mlx's stubs
            pending = y
            work.extend(rest[-1:])
            generated = 0
            while True:
                next_y = None
                if generated + 1 < limit:
                    next_y = pending = setup.step(y)
                    mx.async_eval(next_y)  # type: ignore[no-untyped-call]
                token = int(y.item())  # type: ignore[arg-type]  # mlx types item() as int|float|complex
                if next_y is not None:
                    work.extend([token])
                if generated == 0:
                    control.prefill_progress(total, total)
                    control.mark_prefill_done(total, cached)
                    figures["after_prefill_bytes"] = memory.active_bytes()
                generated += 1
                yield token
                if next_y is None:  # the consumer wants more than the limit foresaw
                    next_y = pending = setup.step(y)
                    mx.async_eval(next_y)  # type: ignore[no-untyped-call]
                    work.extend([token])
                if generated % CLEAR_CACHE_EVERY == 0:
                    memory.clear_cache()
                y = next_y
    finally:
        if pending is not None:  # finish the step in flight so its buffers are released
            with contextlib.suppress(Exception):  # an error here would hide the one propagating
                mx.eval(pending)
        figures["after_decode_bytes"] = memory.active_bytes()
        figures["peak_bytes"] = memory.peak_bytes()
        figures["kv_cache_allocated_bytes"] = work.nbytes
        figures["kv_cache_used_bytes"] = work.used_bytes
        if owned:
            work.reset()
