"""The backend contract: a loaded model, its tokenizer, prompt caches, the per-generation control,
the batched-runner contract and speculative drafters. Reading GGUF files and the embedded
default model live in ``lmstream.formats``."""

from __future__ import annotations

from ._backend import BackendFactory, BackendModel, ModelInfo, Tokenizer
from ._batching import BatchRunner, SequenceEnded, SequenceRequest, StepResult
from ._cache import ListPromptCache, PromptCache, common_prefix_length
from ._control import GenerationControl
from ._drafting import Drafter, DrafterFactory, DraftState

__all__ = [
    "BackendFactory",
    "BackendModel",
    "BatchRunner",
    "DraftState",
    "Drafter",
    "DrafterFactory",
    "GenerationControl",
    "ListPromptCache",
    "ModelInfo",
    "PromptCache",
    "SequenceEnded",
    "SequenceRequest",
    "StepResult",
    "Tokenizer",
    "common_prefix_length",
]
