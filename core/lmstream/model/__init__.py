"""The backend contract: a loaded model, its tokenizer, prompt caches, the per-generation control,
the batched-runner contract, the load-options base, and reading GGUF files and the embedded default model."""

from __future__ import annotations

from ._backend import BackendFactory, BackendModel, ModelInfo, Tokenizer, check_backend
from ._batching import BatchRunner, SequenceEnded, SequenceRequest, StepResult
from ._cache import ListPromptCache, PromptCache, common_prefix_length
from ._control import GenerationControl, TokenConstraint
from ._default_model import (
    DEFAULT_FILE,
    DEFAULT_NAME,
    DEFAULT_PACKAGE,
    INSTALL_DEFAULT,
    default_model_path,
    gguf_tokenizer_config,
)
from ._drafting import Drafter, DrafterFactory, DraftState
from ._gguf import GGML_TYPE_NAMES, GGUF_MAGIC, GGUFHeader, TensorInfo, read_gguf_header
from ._options import BackendOptions, LoadOptions, OptionDoc, OptionError

__all__ = [
    "DEFAULT_FILE",
    "DEFAULT_NAME",
    "DEFAULT_PACKAGE",
    "GGML_TYPE_NAMES",
    "GGUF_MAGIC",
    "INSTALL_DEFAULT",
    "BackendFactory",
    "BackendModel",
    "BackendOptions",
    "BatchRunner",
    "DraftState",
    "Drafter",
    "DrafterFactory",
    "GGUFHeader",
    "GenerationControl",
    "ListPromptCache",
    "LoadOptions",
    "ModelInfo",
    "OptionDoc",
    "OptionError",
    "PromptCache",
    "SequenceEnded",
    "SequenceRequest",
    "StepResult",
    "TensorInfo",
    "TokenConstraint",
    "Tokenizer",
    "check_backend",
    "common_prefix_length",
    "default_model_path",
    "gguf_tokenizer_config",
    "read_gguf_header",
]
