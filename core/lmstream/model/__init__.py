"""The backend contract: a loaded model, its tokenizer, prompt caches, the per-generation control,
the batched-runner contract, speculative drafters and the load-options base. Reading GGUF
files and the embedded default model live in ``lmstream.formats``."""

from __future__ import annotations

from ._backend import BackendFactory, BackendModel, ModelInfo, Tokenizer, check_backend
from ._batching import BatchRunner, SequenceEnded, SequenceRequest, StepResult
from ._cache import ListPromptCache, PromptCache, common_prefix_length
from ._control import GenerationControl, TokenConstraint
from ._drafting import Drafter, DrafterFactory, DraftState
from ._options import BackendOptions, LoadOptions, OptionDoc, OptionError

__all__ = [
    "BackendFactory",
    "BackendModel",
    "BackendOptions",
    "BatchRunner",
    "DraftState",
    "Drafter",
    "DrafterFactory",
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
    "TokenConstraint",
    "Tokenizer",
    "check_backend",
    "common_prefix_length",
]
