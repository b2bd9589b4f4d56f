"""Per-sequence llama.cpp sampler chains from GenerationParameters, and logprobs from logits.

The chain follows llama.cpp's own order (common/sampling.cpp): logit bias, penalties,
top-k, top-p, min-p, temperature, then a seeded draw (or greedy at temperature 0). lmstream
has separate windows for the repetition, presence and frequency penalties, so each gets its
own penalties sampler. Prompt tokens are fed to the chain first so penalties see them (as
mlx-lm and llama-server do).
"""

from __future__ import annotations

import ctypes
import inspect
from collections.abc import Sequence
from typing import Any

import llama_cpp
import numpy as np
from numpy.typing import NDArray

from lmstream import GenerationParameters

_PENALTIES_TAKE_VOCAB = len(inspect.signature(llama_cpp.llama_sampler_init_penalties).parameters) == 5


def check_sampling(parameters: GenerationParameters, n_vocab: int) -> None:
    """Raise ValueError for settings this vocabulary cannot honour (named by field)."""
    if parameters.top_k >= n_vocab:
        raise ValueError(f"top_k={parameters.top_k} must be smaller than the vocabulary ({n_vocab})")
    bias = parameters.logit_bias or {}
    bad = sorted(t for t in bias if not 0 <= t < n_vocab)
    if bad:
        raise ValueError(f"logit_bias token ids outside the vocabulary (size {n_vocab}): {bad[:8]}")


def _penalties(n_vocab: int, last_n: int, repeat: float, freq: float, present: float) -> Any:
    if _PENALTIES_TAKE_VOCAB:
        return llama_cpp.llama_sampler_init_penalties(n_vocab, last_n, repeat, freq, present)
    return llama_cpp.llama_sampler_init_penalties(last_n, repeat, freq, present)  # type: ignore[call-arg]


class SamplerChain:
    """One sequence's ``llama_sampler`` chain; ``close`` frees it (and every sampler in it)."""

    def __init__(self, parameters: GenerationParameters, n_vocab: int,
                 history: Sequence[int] = ()) -> None:
        check_sampling(parameters, n_vocab)
        self.chain = llama_cpp.llama_sampler_chain_init(llama_cpp.llama_sampler_chain_default_params())
        p = parameters
        add = self._add
        if p.logit_bias:
            entries = (llama_cpp.llama_logit_bias * len(p.logit_bias))()
            for i, (token, bias) in enumerate(p.logit_bias.items()):
                entries[i].token = int(token)  # type: ignore[assignment]
                entries[i].bias = float(bias)
            add(llama_cpp.llama_sampler_init_logit_bias(n_vocab, len(p.logit_bias), entries))
        windows: list[int] = []
        if p.repetition_penalty is not None and p.repetition_penalty != 1.0:
            add(_penalties(n_vocab, p.repetition_context_size, p.repetition_penalty, 0.0, 0.0))
            windows.append(p.repetition_context_size)
        if p.presence_penalty:
            add(_penalties(n_vocab, p.presence_context_size, 1.0, 0.0, p.presence_penalty))
            windows.append(p.presence_context_size)
        if p.frequency_penalty:
            add(_penalties(n_vocab, p.frequency_context_size, 1.0, p.frequency_penalty, 0.0))
            windows.append(p.frequency_context_size)
        if p.temperature == 0.0:
            add(llama_cpp.llama_sampler_init_greedy())
        else:
            if p.top_k > 0:
                add(llama_cpp.llama_sampler_init_top_k(p.top_k))
            if p.top_p < 1.0:
                add(llama_cpp.llama_sampler_init_top_p(p.top_p, 1))
            if p.min_p > 0.0:
                add(llama_cpp.llama_sampler_init_min_p(p.min_p, 1))
            add(llama_cpp.llama_sampler_init_temp(p.temperature))
            seed = llama_cpp.LLAMA_DEFAULT_SEED if p.seed is None else p.seed & 0xFFFFFFFF
            add(llama_cpp.llama_sampler_init_dist(seed))
        if windows:
            for token in list(history)[-max(windows):]:
                llama_cpp.llama_sampler_accept(self.chain, int(token))

    def _add(self, sampler: Any) -> None:
        if not sampler:
            raise RuntimeError("llama.cpp could not create a sampler")
        llama_cpp.llama_sampler_chain_add(self.chain, sampler)

    def sample(self, ctx: Any, index: int) -> int:
        """Sample (and accept) a token from output ``index`` of the last ``llama_decode``."""
        return int(llama_cpp.llama_sampler_sample(self.chain, ctx, index))

    def close(self) -> None:
        """Free the chain and its samplers."""
        if self.chain is not None:
            llama_cpp.llama_sampler_free(self.chain)
            self.chain = None


def logits_row(ctx: Any, index: int, n_vocab: int) -> NDArray[np.float32]:
    """A writable numpy view of the logits of output ``index`` of the last ``llama_decode``
    (the row the sampler chain reads: writing it changes what is sampled)."""
    pointer = llama_cpp.llama_get_logits_ith(ctx, index)
    if not pointer:
        raise RuntimeError(f"llama.cpp has no logits for output {index}")
    row: NDArray[np.float32] = np.ctypeslib.as_array(
        ctypes.cast(pointer, ctypes.POINTER(ctypes.c_float)), shape=(n_vocab,))
    return row


def logprobs(ctx: Any, index: int, n_vocab: int, token: int,
             top: int) -> tuple[float, tuple[tuple[int, float], ...] | None]:
    """The model's log-probability of ``token`` at output ``index`` (raw logits, before any
    sampling filter or penalty, but after a structured-output mask, which is written into
    the logits: a constrained row is normalized over its allowed tokens, as on mlx), and the
    ``top`` most likely alternatives when asked."""
    logits = logits_row(ctx, index, n_vocab).astype(np.float64)
    peak = float(logits.max())
    lse = peak + float(np.log(np.exp(logits - peak).sum()))
    chosen = float(logits[token]) - lse
    if not top:
        return chosen, None
    best = np.argpartition(-logits, top - 1)[:top]
    best = best[np.argsort(-logits[best], kind="stable")]
    return chosen, tuple((int(i), float(logits[i]) - lse) for i in best)
