"""Model file formats: the hardened GGUF header reader and the embedded default model.

Stdlib only and independent of the backend contract (``errors`` aside), so every backend and
plugin that reads a model file shares one reader. Backend authors import these names from
``lmstream.backend``.
"""

from __future__ import annotations

from ._default_model import (
    DEFAULT_FILE,
    DEFAULT_NAME,
    DEFAULT_PACKAGE,
    INSTALL_DEFAULT,
    default_model_path,
    gguf_tokenizer_config,
)
from ._gguf import GGML_TYPE_NAMES, GGUF_MAGIC, GGUFHeader, TensorInfo, read_gguf_header

__all__ = [
    "DEFAULT_FILE",
    "DEFAULT_NAME",
    "DEFAULT_PACKAGE",
    "GGML_TYPE_NAMES",
    "GGUF_MAGIC",
    "INSTALL_DEFAULT",
    "GGUFHeader",
    "TensorInfo",
    "default_model_path",
    "gguf_tokenizer_config",
    "read_gguf_header",
]
