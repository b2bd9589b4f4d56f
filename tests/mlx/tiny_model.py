"""A tiny random llama model written as GGUF (every tensor type the loader keeps), for fast tests."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
from gguf_writer import F16, F32, Q4_0, Q4_1, Q8_0, float_tensor, quant_tensor, write_gguf
from tokenizers import pre_tokenizers

SPECIALS = ["<|endoftext|>", "<|im_start|>", "<|im_end|>"]
MERGES = ["h e", "l l", "he ll", "hell o", "Ġ w", "o r", "Ġw or", "l d", "Ġwor ld"]
TEMPLATE = ("{% for m in messages %}<|im_start|>{{ m['role'] }}\n{{ m['content'] }}<|im_end|>\n"
            "{% endfor %}{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}")
HIDDEN, LAYERS, HEADS, KV_HEADS, FFN = 64, 2, 2, 1, 128


def tiny_vocab() -> list[str]:
    """Special tokens, the 256 byte-level symbols, then one token per merge result."""
    alphabet = sorted(pre_tokenizers.ByteLevel.alphabet())
    merged = [m.replace(" ", "") for m in MERGES]
    return SPECIALS + alphabet + merged


def tiny_metadata(**overrides: Any) -> dict[str, Any]:
    """GGUF metadata of the tiny model (byte-level BPE tokenizer, ChatML-style template)."""
    tokens = tiny_vocab()
    meta: dict[str, Any] = {
        "general.architecture": "llama",
        "general.name": "tiny",
        "llama.block_count": LAYERS,
        "llama.context_length": 256,
        "llama.embedding_length": HIDDEN,
        "llama.feed_forward_length": FFN,
        "llama.attention.head_count": HEADS,
        "llama.attention.head_count_kv": KV_HEADS,
        "llama.attention.layer_norm_rms_epsilon": 1e-5,
        "llama.rope.freq_base": 10000.0,
        "llama.vocab_size": len(tokens),
        "tokenizer.ggml.model": "gpt2",
        "tokenizer.ggml.pre": "smollm",
        "tokenizer.ggml.tokens": tokens,
        "tokenizer.ggml.token_type": [3] * len(SPECIALS) + [1] * (len(tokens) - len(SPECIALS)),
        "tokenizer.ggml.merges": MERGES,
        "tokenizer.ggml.bos_token_id": 1,
        "tokenizer.ggml.eos_token_id": 2,
        "tokenizer.ggml.add_bos_token": False,
        "tokenizer.chat_template": TEMPLATE,
    }
    meta.update(overrides)
    return meta


def tiny_tensors(seed: int = 0, *, tied: bool = True,
                 quantized: bool = True) -> dict[str, tuple[int, tuple[int, ...], bytes]]:
    """Random weights; with ``quantized`` they use Q4_0, Q4_1, Q8_0, F16 and F32 across layers."""
    rng = np.random.default_rng(seed)
    vocab = len(tiny_vocab())
    head_dim = HIDDEN // HEADS

    def w(*shape: int, scale: float = 0.3) -> np.ndarray:
        return (rng.standard_normal(shape) * scale).astype(np.float32)

    def q(values: np.ndarray, kind: int) -> tuple[int, tuple[int, ...], bytes]:
        return quant_tensor(values, kind) if quantized else float_tensor(values, F32)

    tensors = {"token_embd.weight": q(w(vocab, HIDDEN, scale=1.0), Q8_0),
               "output_norm.weight": float_tensor(1 + w(HIDDEN, scale=0.1))}
    if not tied:
        tensors["output.weight"] = float_tensor(w(vocab, HIDDEN), F16 if quantized else F32)
    for i in range(LAYERS):
        p = f"blk.{i}."
        tensors[p + "attn_norm.weight"] = float_tensor(1 + w(HIDDEN, scale=0.1))
        tensors[p + "ffn_norm.weight"] = float_tensor(1 + w(HIDDEN, scale=0.1))
        tensors[p + "attn_q.weight"] = q(w(HEADS * head_dim, HIDDEN), Q4_0)
        tensors[p + "attn_k.weight"] = q(w(KV_HEADS * head_dim, HIDDEN), Q4_1)
        tensors[p + "attn_v.weight"] = q(w(KV_HEADS * head_dim, HIDDEN), Q8_0)
        tensors[p + "attn_output.weight"] = float_tensor(w(HIDDEN, HEADS * head_dim), F16 if quantized else F32)
        tensors[p + "ffn_gate.weight"] = q(w(FFN, HIDDEN), Q4_1)
        tensors[p + "ffn_up.weight"] = float_tensor(w(FFN, HIDDEN))
        tensors[p + "ffn_down.weight"] = q(w(HIDDEN, FFN), Q4_0)
    return tensors


def write_tiny_llama(path: str | Path, *, seed: int = 0, tied: bool = True, quantized: bool = True,
                     **metadata: Any) -> Path:
    """Write the tiny model to ``path`` and return it."""
    return write_gguf(path, tiny_metadata(**metadata), tiny_tensors(seed, tied=tied, quantized=quantized))
