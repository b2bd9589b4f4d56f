"""LlamaCppBackendModel: a GGUF model loaded by llama.cpp as the core sees it, and the factory.

Everything here runs on the context's worker thread. The backend implements the core's one
compute contract, the batch runner (``runner``): a single stream is the runner with one row.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import llama_cpp

from lmstream import GenerationParameters, ModelInfo
from lmstream.backend import (
    DEFAULT_NAME,
    BackendModel,
    default_model_path,
    gguf_tokenizer_config,
)

from . import native
from .cache import LlamaCppPromptCache
from .engine import Engine
from .options import LlamaCppOptions
from .runner import LlamaCppBatchRunner, check_request
from .tokenizer import LlamaCppTokenizer

DEFAULT_CONTEXT = 4096
"""KV cells when neither the options nor the file say (no training context in the GGUF)."""
_META_KEYS = ("general.architecture", "general.name", "tokenizer.ggml.model",
              "tokenizer.tool_parser_type")


def _kv_bytes_per_token(model: Any, architecture: str | None) -> int:
    """Bytes one token takes in the KV cache (f16 keys and values in every layer)."""
    n_layer = int(llama_cpp.llama_model_n_layer(model))
    n_head = max(int(llama_cpp.llama_model_n_head(model)), 1)
    n_head_kv = int(llama_cpp.llama_model_n_head_kv(model))
    head_dim = int(llama_cpp.llama_model_n_embd(model)) // n_head
    if architecture:
        for key in ("key_length", "value_length"):
            value = native.meta_string(model, f"{architecture}.attention.{key}")
            if value is not None and value.isdigit():
                head_dim = int(value)
    return n_layer * 2 * n_head_kv * head_dim * 2


def _special_tokens(tokenizer: LlamaCppTokenizer, vocab: Any) -> dict[str, str]:
    """``{bos_token, eos_token, pad_token, eot_token}`` as far as the vocabulary names them."""
    result: dict[str, str] = {}
    for name, getter in (("bos", llama_cpp.llama_vocab_bos), ("eos", llama_cpp.llama_vocab_eos),
                         ("pad", llama_cpp.llama_vocab_pad), ("eot", llama_cpp.llama_vocab_eot)):
        token_id = int(getter(vocab))
        if 0 <= token_id < tokenizer.vocab_size:
            result[f"{name}_token"] = tokenizer.token_text(token_id)
    return result


class LlamaCppBackendModel(BackendModel):
    """A GGUF model in llama.cpp behind the core's contract (single and batched decode)."""

    supports_constraints = True
    """Structured-output masks are written into the logits of every decode step."""

    def __init__(self, path: Path, name: str, options: LlamaCppOptions) -> None:
        self.options = options
        self._model = native.load_model(path, options)
        try:
            self._setup(path, name, options)
        except BaseException:
            llama_cpp.llama_model_free(self._model)
            raise

    def _setup(self, path: Path, name: str, options: LlamaCppOptions) -> None:
        model = self._model
        vocab = llama_cpp.llama_model_get_vocab(model)
        self.tokenizer = LlamaCppTokenizer(vocab)
        self.vocab_size = self.tokenizer.vocab_size
        meta = {k: v for k in _META_KEYS if (v := native.meta_string(model, k)) is not None}
        raw_template = llama_cpp.llama_model_chat_template(model, None)
        template = raw_template.decode("utf-8") if raw_template else None
        if template:
            meta["tokenizer.chat_template"] = template
        trained = int(llama_cpp.llama_model_n_ctx_train(model))
        n_ctx = options.n_ctx or trained or DEFAULT_CONTEXT
        special = _special_tokens(self.tokenizer, vocab)
        architecture = meta.get("general.architecture")
        self.info = ModelInfo(
            name=name, backend="llama_cpp", model_type=architecture, chat_template=template,
            tokenizer_config=gguf_tokenizer_config(meta, special,
                                                   add_bos_token=self.tokenizer.add_bos_token,
                                                   context_length=n_ctx),
            special_tokens=special, context_length=n_ctx, path=path,
        )
        ctx = native.new_context(model, options, n_ctx)
        self.engine = Engine(ctx, n_ctx=int(llama_cpp.llama_n_ctx(ctx)), n_batch=options.n_batch,
                             n_seq_max=options.n_seq_max, n_vocab=self.tokenizer.vocab_size,
                             kv_bytes_per_token=_kv_bytes_per_token(model, architecture),
                             weights_bytes=int(llama_cpp.llama_model_size(model)),
                             can_trim=not (llama_cpp.llama_model_is_recurrent(model)
                                           or llama_cpp.llama_model_is_hybrid(model)))
        self._runner: LlamaCppBatchRunner | None = None

    @property
    def weights_bytes(self) -> int:
        """Bytes of the model's tensors."""
        return self.engine.weights_bytes

    def new_cache(self) -> LlamaCppPromptCache:
        """A fresh, empty prompt cache for this model."""
        return LlamaCppPromptCache(self.engine)

    def validate(self, prompt: Sequence[int], parameters: GenerationParameters) -> None:
        """Raise ValueError for input this model cannot run (before a stream starts)."""
        check_request([int(t) for t in prompt], parameters, self.engine)

    def new_batch_runner(self) -> LlamaCppBatchRunner:
        """The runner the scheduler drives (one per model, for single streams and batches)."""
        if self._runner is None:
            self._runner = LlamaCppBatchRunner(self.engine)
        return self._runner

    def memory_snapshot(self) -> dict[str, int | None]:
        """Weights, the KV cells running sequences hold, and the process's resident memory."""
        from . import memory

        engine = self.engine
        return {"weights_bytes": engine.weights_bytes,
                "kv_cache_allocated_bytes": engine.n_ctx * engine.kv_bytes_per_token,
                "kv_cache_used_bytes": engine.used_cells * engine.kv_bytes_per_token,
                "rss_bytes": memory.rss_bytes()}

    def close(self) -> None:
        """Free the context and the model."""
        if self._runner is not None:
            self._runner.close()
        if self._model is not None:
            self.engine.close()
            llama_cpp.llama_model_free(self._model)
            self._model = None


def resolve_path(model: str | Path | None) -> tuple[Path, str]:
    """The GGUF file and display name for ``model`` (None: the embedded default)."""
    if model is None:
        return default_model_path(), DEFAULT_NAME
    path = Path(model).expanduser()
    return path, path.stem


def create_backend(model: str | None = None, **options: Any) -> LlamaCppBackendModel:
    """The ``llama_cpp`` backend factory: ``lmstream.load(model, backend="llama_cpp", **options)``."""
    parsed = LlamaCppOptions.parse(options)
    path, name = resolve_path(model)
    return LlamaCppBackendModel(path, name, parsed)
