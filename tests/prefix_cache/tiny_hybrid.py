"""A tiny random-weight hybrid mlx-lm model (LFM2: short-convolution layers with an
``ArraysCache`` state beside attention layers with a ``KVCache``), written as an mlx-lm
directory inside the test: config.json, model.safetensors and a byte-level BPE tokenizer."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

SPECIALS = ["<|endoftext|>", "<|im_start|>", "<|im_end|>"]
TEMPLATE = ("{% for m in messages %}<|im_start|>{{ m['role'] }}\n{{ m['content'] }}<|im_end|>\n"
            "{% endfor %}{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}")


def _config(vocab_size: int) -> dict[str, Any]:
    return {
        "model_type": "lfm2", "vocab_size": vocab_size, "hidden_size": 64,
        "num_hidden_layers": 4, "num_attention_heads": 2, "num_key_value_heads": 1,
        "max_position_embeddings": 1024, "norm_eps": 1e-5, "conv_bias": False,
        "conv_L_cache": 3, "block_dim": 64, "block_multiple_of": 16,
        "block_ffn_dim_multiplier": 1.0, "block_auto_adjust_ff_dim": False, "block_ff_dim": 128,
        "layer_types": ["conv", "full_attention", "conv", "full_attention"],
        "tie_word_embeddings": True,
    }


def _tokenizer(directory: Path) -> int:
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers

    alphabet = sorted(pre_tokenizers.ByteLevel.alphabet())
    vocab = {token: i for i, token in enumerate(SPECIALS + alphabet)}
    tokenizer = Tokenizer(models.BPE(vocab=vocab, merges=[]))
    tokenizer.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tokenizer.decoder = decoders.ByteLevel()
    tokenizer.add_special_tokens(SPECIALS)
    tokenizer.save(str(directory / "tokenizer.json"))
    (directory / "tokenizer_config.json").write_text(json.dumps({
        "tokenizer_class": "PreTrainedTokenizerFast", "eos_token": "<|im_end|>",
        "bos_token": None, "chat_template": TEMPLATE, "model_max_length": 1024}))
    return len(vocab)


def write_tiny_hybrid(directory: Path, seed: int = 0) -> Path:
    """Write the model to ``directory`` (created) and return it."""
    import mlx.core as mx
    from mlx.utils import tree_flatten
    from mlx_lm.models import lfm2

    directory.mkdir(parents=True, exist_ok=True)
    vocab_size = _tokenizer(directory)
    config = _config(vocab_size)
    mx.random.seed(seed)
    model = lfm2.Model(lfm2.ModelArgs.from_dict(config))
    weights = dict(tree_flatten(model.parameters()))
    mx.eval(weights)
    mx.save_safetensors(str(directory / "model.safetensors"), weights)
    (directory / "config.json").write_text(json.dumps(config))
    return directory
