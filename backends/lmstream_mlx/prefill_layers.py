"""A prefill chunk run decoder layer by decoder layer, which can stop between two layers.

On CPU's numpy layers (cpu_decoder.py) a chunk sized to the scheduler's budget (0.25 s) is 30
layer calls of a few ms each. A request arriving meanwhile waited for the rest of the chunk;
now the chunk stops after the layer running when the scheduler's ``interrupt`` says so
(``BatchRunner.interrupt``: a job waits, or the chunk overran) and goes on at the next layer
on the sequence's next ``prefill``. Layers before the stop already hold the chunk's keys and
values, the ones after do not: ``discard`` trims them back when the sequence ends part-way, so
its prompt cache again holds exactly the ids it lists.

Only llama models whose every layer is a numpy layer, with trimmable plain caches and no
sliding window, run this way (``LayerPrefill.fits``); everything else prefills in one model
call (``DecodeSetup.prefill``). The layers compute exactly what mlx-lm's ``LlamaModel`` call
does (same embedding, same mask, same layer calls in order); the final norm and the output
head are skipped: a prefill chunk's logits are never read.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import mlx.core as mx
import mlx.nn as nn
from mlx_lm.models.base import create_attention_mask
from mlx_lm.models.cache import KVCache

from .blas_scope import model_call
from .cpu_attention import NumpyKVCache
from .cpu_decoder import serves_rows
from .generation import DecodeSetup
from .speed import blas_threads_of


class LayerPrefill:
    """One prefill chunk of one sequence, computed layer by layer (see the module docstring)."""

    def __init__(self, setup: DecodeSetup, chunk: Sequence[int], sample_last: bool = False) -> None:
        self.setup = setup
        self.chunk = list(chunk)
        self.sample_last = sample_last
        """The chunk ends with the prompt's last id: compute its logits (``logits``) too."""
        self.logits: mx.array | None = None
        """With ``sample_last``, once run: the logits after the last id, ``(1, vocab)``."""
        self.ids = mx.array(self.chunk, dtype=mx.uint32)
        inner = setup.model.model
        self._hidden = inner.embed_tokens(self.ids[None])
        caches = setup.cache.layers or []
        self._mask = create_attention_mask(self._hidden, caches[getattr(inner, "fa_idx", 0)])
        self.layers_done = 0
        """Decoder layers whose caches hold this chunk."""

    @staticmethod
    def fits(setup: DecodeSetup) -> bool:
        """Whether ``setup``'s model and caches can prefill layer by layer."""
        model, layers = setup.model, setup.cache.layers
        inner = getattr(model, "model", None)
        return (layers is not None and serves_rows(model) and inner is not None
                and getattr(inner, "swa_idx", None) is None and hasattr(model, "args")
                and setup.parameters.kv_bits is None and len(layers) == len(inner.layers)
                and all(type(c) in (KVCache, NumpyKVCache) for c in layers))

    def run(self, interrupt: Callable[[], bool] | None) -> bool:
        """Compute layers until the chunk is done (True: its ids are in the cache) or
        ``interrupt()`` says stop after a layer of this call (False: call again to go on)."""
        setup = self.setup
        layers = setup.model.model.layers
        caches = setup.cache.layers
        assert caches is not None
        with model_call(blas_threads_of(setup.model), prefill=True):
            first = self.layers_done
            while self.layers_done < len(layers):
                if self.layers_done > first and interrupt is not None and interrupt():
                    return False
                index = self.layers_done
                self._hidden = layers[index](self._hidden, self._mask, cache=caches[index])
                self.layers_done += 1
            mx.eval([c.state for c in caches if not isinstance(c, NumpyKVCache)])
        if self.sample_last:
            with model_call(blas_threads_of(setup.model)):  # read logits: the head through BLAS
                self.logits = _last_logits(setup.model, self._hidden)
            if len(self.chunk) > 1:
                setup.record(self.ids[:-1])  # sampling records the last id it feeds
        else:
            setup.record(self.ids)
        setup.cache.extend(self.chunk)
        return True

    def discard(self) -> None:
        """Take this chunk's keys and values back out of the layers that hold them."""
        caches = self.setup.cache.layers or []
        for cache in caches[:self.layers_done]:
            cache.trim(len(self.chunk))
        self.layers_done = 0


def _last_logits(model: nn.Module, hidden: mx.array) -> mx.array:
    """What mlx-lm's llama model call returns for the last position: final norm, then the
    output head (the tied embedding's ``as_linear`` or ``lm_head``), ``(1, vocab)``."""
    out = model.model.norm(hidden[:, -1:, :])
    if getattr(model.args, "tie_word_embeddings", False):
        logits = model.model.embed_tokens.as_linear(out)
    else:
        logits = model.lm_head(out)
    last: mx.array = logits[:, -1, :]
    return last
