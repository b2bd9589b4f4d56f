"""What a backend author needs: the public surface for writing a model backend plugin.

A backend plugin registers a factory (``lmstream_register_backends``) that returns a
``BackendModel``; the compute contract is its ``BatchRunner`` (``add`` / ``prefill`` /
``step`` / ``remove``, one ``StepResult`` per row). The prompt caches, the per-generation
``GenerationControl``, speculative drafters, the structured-output ``Constraint`` a runner
applies, and the GGUF reader and embedded default model (``lmstream.formats``) are here too.

Users of the library need none of this: they call ``lmstream.load`` and the generation APIs
from ``lmstream`` itself. Plugin authors (tool parsers, templates, observers, commands,
constraint engines) use ``lmstream.plugin``.
"""

from __future__ import annotations

from .formats import (
    DEFAULT_FILE,
    DEFAULT_NAME,
    DEFAULT_PACKAGE,
    GGML_TYPE_NAMES,
    GGUF_MAGIC,
    INSTALL_DEFAULT,
    GGUFHeader,
    TensorInfo,
    default_model_path,
    gguf_tokenizer_config,
    read_gguf_header,
)
from .model import (
    BackendFactory,
    BackendModel,
    BackendOptions,
    BatchRunner,
    Drafter,
    DrafterFactory,
    DraftState,
    GenerationControl,
    ListPromptCache,
    LoadOptions,
    ModelInfo,
    OptionDoc,
    OptionError,
    PromptCache,
    SequenceEnded,
    SequenceRequest,
    StepResult,
    TokenConstraint,
    Tokenizer,
    check_backend,
    common_prefix_length,
)
from .pipeline import Constraint, ConstraintError

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
    "Constraint",
    "ConstraintError",
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
