"""Convert a GGUF file into an mlx-lm model directory (``mlx_lm.load`` reads it back).

The directory holds ``config.json`` (mlx-lm llama config with per-layer quantization),
``model.safetensors`` (the weights as loaded: packed layers stay packed),
``tokenizer.json`` and ``tokenizer_config.json`` (with the chat template). Used for the
mlx-lm round trip and to run ``mlx_lm.stream_generate`` on the very same weights.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from lmstream import ModelLoadError


def gguf_to_mlx_lm(gguf_path: str | Path, out_dir: str | Path) -> Path:
    """Write an mlx-lm model directory for ``gguf_path`` into ``out_dir``; returns ``out_dir``."""
    import mlx.core as mx
    from mlx.utils import tree_flatten

    from .gguf import load_gguf
    from .gguf_tokenizer import special_tokens_from_gguf_metadata

    loaded = load_gguf(gguf_path)
    if loaded.rope_factors:
        raise ModelLoadError("GGUF files with rope_freqs (per-dimension rope factors) cannot be "
                             "expressed as an mlx-lm config; load the GGUF file directly instead")
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    weights = dict(tree_flatten(loaded.model.parameters()))
    mx.save_safetensors(str(out / "model.safetensors"), weights, metadata={"format": "mlx"})

    config: dict[str, Any] = dict(loaded.config)
    config["architectures"] = ["LlamaForCausalLM"]
    config["eos_token_id"] = sorted(loaded.tokenizer.eos_token_ids)
    if loaded.tokenizer.bos_token_id is not None:
        config["bos_token_id"] = loaded.tokenizer.bos_token_id
    quantization = _quantization_config(loaded.model)
    if quantization:
        config["quantization"] = quantization
        config["quantization_config"] = quantization
    (out / "config.json").write_text(json.dumps(config, indent=2, sort_keys=True))

    loaded.tokenizer.backend_tokenizer.save(str(out / "tokenizer.json"))
    metadata = loaded.metadata
    tokenizer_config: dict[str, Any] = {
        "tokenizer_class": "PreTrainedTokenizerFast",
        "clean_up_tokenization_spaces": False,
        "add_bos_token": bool(metadata.get("tokenizer.ggml.add_bos_token", False)),
        **special_tokens_from_gguf_metadata(metadata),
    }
    tokenizer_config.pop("eot_token", None)
    if "max_position_embeddings" in config:
        tokenizer_config["model_max_length"] = config["max_position_embeddings"]
    template = metadata.get("tokenizer.chat_template")
    if template:
        tokenizer_config["chat_template"] = template
    (out / "tokenizer_config.json").write_text(json.dumps(tokenizer_config, indent=2))
    return out


def _quantization_config(model: Any) -> dict[str, Any]:
    """mlx-lm ``quantization`` dict: the most common layout plus an entry per quantized layer."""
    layers: dict[str, dict[str, Any]] = {}
    for path, module in model.named_modules():
        bits = getattr(module, "bits", None)
        group_size = getattr(module, "group_size", None)
        if bits is not None and group_size is not None:
            layers[path] = {"group_size": group_size, "bits": bits,
                            "mode": getattr(module, "mode", "affine")}
    if not layers:
        return {}
    layouts = [(v["group_size"], v["bits"]) for v in layers.values()]
    group_size, bits = max(set(layouts), key=layouts.count)
    return {"group_size": group_size, "bits": bits, "mode": "affine", **layers}
