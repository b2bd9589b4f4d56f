"""MlxBackendModel: a loaded mlx model as the core sees it, and the backend factory.

Everything here runs on the context's worker thread: the factory, ``new_cache``, the batch
runner (the backend's one decode path) and ``memory_snapshot`` (mlx streams are per thread).
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from typing import Any

import mlx.core as mx

from lmstream import GenerationParameters, ModelInfo, PromptCache
from lmstream.backend import BackendModel

from . import memory
from .batch import MlxBatchRunner
from .cache import MlxPromptCache
from .loading import LoadedModel, load_model
from .options import MlxOptions
from .speed import SpeedPlan, apply_speed_plan
from .validation import validate_request


def _vocab_size(loaded: LoadedModel) -> int:
    """Rows of the model's output layer (what sampling and logit_bias index)."""
    candidates = [getattr(getattr(loaded.model, "args", None), "vocab_size", None),
                  loaded.config.get("vocab_size"),
                  (loaded.config.get("text_config") or {}).get("vocab_size")]
    for value in candidates:
        if isinstance(value, int) and value > 0:
            return value
    return int(loaded.tokenizer.vocab_size)


class MlxBackendModel(BackendModel):
    """An mlx-lm model (loaded from GGUF or an mlx-lm directory) behind the core's contract."""

    supports_constraints = True
    """Structured-output masks are applied to the logits of every decode step."""

    def __init__(self, loaded: LoadedModel, options: MlxOptions) -> None:
        self.model = loaded.model
        self.tokenizer = loaded.tokenizer
        self.config = loaded.config
        self.info = ModelInfo(
            name=loaded.name, backend="mlx", model_type=loaded.model_type,
            chat_template=loaded.chat_template, tokenizer_config=loaded.tokenizer_config,
            special_tokens=loaded.special_tokens, context_length=loaded.context_length,
            path=loaded.path,
        )
        device = mx.Device(getattr(mx, options.device)) if options.device else mx.default_device()
        self.device = device
        self._streams: dict[int, Any] = {}
        self.vocab_size: int = _vocab_size(loaded)
        self.speed: SpeedPlan = apply_speed_plan(self.model, options, device)
        self.weights_bytes = memory.tree_nbytes(self.model.parameters()) + self.speed.blas_bytes
        """The model's parameters plus the float32 copies the BLAS path multiplies with."""

    def stream(self) -> Any:
        """This thread's generation stream on the model's device (mlx streams are per thread)."""
        ident = threading.get_ident()
        stream = self._streams.get(ident)
        if stream is None:
            stream = self._streams[ident] = mx.new_stream(self.device)
        return stream

    def new_cache(self) -> MlxPromptCache:
        """A fresh, empty prompt cache for this model."""
        return MlxPromptCache(self.model)

    def check_cache(self, cache: PromptCache | None) -> MlxPromptCache | None:
        """``cache`` if it is this model's prompt cache (or None); a TypeError otherwise."""
        if cache is not None and not (isinstance(cache, MlxPromptCache) and cache._model is self.model):
            raise TypeError("cache must come from this model's new_cache() (context.new_cache())")
        return cache

    def validate(self, prompt: Sequence[int], parameters: GenerationParameters) -> None:
        """Raise ValueError for ids outside the vocabulary, ``top_k`` >= the vocabulary,
        ``logit_bias`` ids out of range or a bad ``kv_group_size`` (before the stream starts)."""
        validate_request(prompt, parameters, self.vocab_size)

    def new_batch_runner(self) -> MlxBatchRunner:
        """The backend's one decode path: a lone sequence is pipelined, several share one
        batched model call per step."""
        return MlxBatchRunner(self)

    def memory_snapshot(self) -> dict[str, int | None]:
        """Memory mlx holds now, the peak since the last generation started, and the weights."""
        return {"active_bytes": memory.active_bytes(), "peak_bytes": memory.peak_bytes(),
                "weights_bytes": self.weights_bytes}

    def close(self) -> None:
        """Drop the weights and return mlx's cached buffers."""
        self.model = None
        self.speed = SpeedPlan()
        memory.clear_cache()


def create_backend(model: str | None = None, **options: Any) -> MlxBackendModel:
    """The ``mlx`` backend factory: ``lmstream.load(model, backend="mlx", **options)``."""
    parsed = MlxOptions.parse(options)
    return MlxBackendModel(load_model(model, parsed), parsed)
