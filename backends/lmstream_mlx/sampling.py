"""Samplers and logits processors from GenerationParameters, built on mlx-lm's sample_utils.

Sampling uses mlx-lm's filter chain (top-p, min-p, top-k, in mlx-lm's order) and draws from
a private random key split once per token: from ``seed`` when given (a seeded run repeats
exactly, whatever else in the process draws random numbers meanwhile), else from a fresh
system seed. mlx's global (per-thread) random state is never touched.
"""

from __future__ import annotations

import math
import secrets
from collections.abc import Callable
from typing import Any

import mlx.core as mx
from mlx_lm.sample_utils import (
    apply_min_p,
    apply_top_k,
    apply_top_p,
    make_logits_processors,
)

from lmstream import GenerationParameters

Sampler = Callable[[mx.array], mx.array]
LogitsProcessor = Callable[[mx.array, mx.array], mx.array]


def greedy(logprobs: mx.array) -> mx.array:
    """The most likely token."""
    return mx.argmax(logprobs, axis=-1)


class KeyedSampler:
    """mlx-lm's filter chain (top-p, min-p, top-k) and a categorical draw from a private key."""

    def __init__(self, parameters: GenerationParameters, vocab_size: int) -> None:
        seed = parameters.seed if parameters.seed is not None else secrets.randbits(63)
        self._key = mx.random.key(seed)
        self._inverse_temperature = 1.0 / parameters.temperature
        self._filters: list[Callable[[mx.array], mx.array]] = []
        top_p, min_p, top_k = parameters.top_p, parameters.min_p, parameters.top_k
        if 0.0 < top_p < 1.0:
            self._filters.append(lambda x: apply_top_p(x, top_p))
        if min_p != 0.0:
            self._filters.append(lambda x: apply_min_p(x, min_p, 1))
        if 0 < top_k < vocab_size:
            self._filters.append(lambda x: apply_top_k(x, top_k))

    def __call__(self, logprobs: mx.array) -> mx.array:
        for apply in self._filters:
            logprobs = apply(logprobs)
        self._key, draw = mx.random.split(self._key)
        return mx.random.categorical(logprobs * self._inverse_temperature, key=draw)


def make_token_sampler(parameters: GenerationParameters, vocab_size: int) -> Sampler:
    """The sampler for one generation (greedy when temperature is 0)."""
    if parameters.temperature == 0.0:
        return greedy
    return KeyedSampler(parameters, vocab_size)


def make_processors(parameters: GenerationParameters, vocab_size: int) -> list[LogitsProcessor]:
    """Logit bias and repetition/presence/frequency penalties, in mlx-lm's order (the ids were
    checked by ``validation.validate_request``)."""
    bias = parameters.logit_bias
    processors: list[LogitsProcessor] = make_logits_processors(
        logit_bias=bias or None,
        repetition_penalty=parameters.repetition_penalty,
        repetition_context_size=parameters.repetition_context_size,
        presence_penalty=parameters.presence_penalty,
        presence_context_size=parameters.presence_context_size,
        frequency_penalty=parameters.frequency_penalty,
        frequency_context_size=parameters.frequency_context_size,
    )
    return processors


def sequence_logprobs(logits: mx.array, processors: list[LogitsProcessor], history: mx.array | None,
                      mask: Any = None) -> mx.array:
    """One sequence's next-token logits (1, vocab) -> the log-probabilities its sampler draws from.

    The one place where a sequence's logits are processed (logit bias, penalties over
    ``history``, the structured-output ``mask``, then normalization), for single streams and
    batch rows alike.
    """
    if processors:
        assert history is not None
        for processor in processors:
            logits = processor(history, logits)
    if mask is not None:
        logits = apply_token_mask(logits, mask)
    return logits - mx.logsumexp(logits, axis=-1, keepdims=True)


def top_logprobs(logprobs: mx.array, count: int) -> tuple[mx.array, mx.array]:
    """The ``count`` most likely ids of a (1, vocab) row and their logprobs, best first (lazy)."""
    row = logprobs[0]
    ids = mx.argpartition(-row, count - 1)[:count]
    values = row[ids]
    order = mx.argsort(-values)
    return ids[order], values[order]


def apply_token_mask(logits: mx.array, allowed: Any) -> mx.array:
    """Structured output: forbid every token whose entry in ``allowed`` (a numpy bool row over
    the vocabulary, from ``Constraint.mask()``) is False; one vectorised ``where``, shared by
    the token-iterator path and the batched runner (pass one row per sequence, stacked)."""
    return mx.where(mx.array(allowed), logits, mx.array(-math.inf, dtype=logits.dtype))


def constraint_mask(logits: mx.array, fed: mx.array | None, constraint: Any) -> Any:
    """Advance ``constraint`` by the token just fed (None: the prompt's last token, not a
    sampled one) and return its mask for the next token (None: anything goes). The forward
    pass is started first so the mask is computed on the CPU while the model runs."""
    mx.async_eval(logits)  # type: ignore[no-untyped-call]
    if fed is not None:
        constraint.advance(int(fed.item()))  # type: ignore[arg-type]
    return constraint.mask()


def apply_token_masks(logits: mx.array, masks: list[Any]) -> mx.array:
    """The batched form: ``logits`` is (batch, vocab); ``masks`` holds one row per sequence
    (a ``Constraint.mask()`` result, or None for an unconstrained sequence). One ``where``
    for the whole batch; nothing is done when no row is constrained."""
    if all(mask is None for mask in masks):
        return logits
    import numpy as np

    rows = np.ones((len(masks), logits.shape[-1]), dtype=np.bool_)
    for i, mask in enumerate(masks):
        if mask is not None:
            rows[i, : len(mask)] = mask
            rows[i, len(mask):] = False
    return apply_token_mask(logits, rows)
