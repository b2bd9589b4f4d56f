"""MLX-only real-model tests on the default model (SmolLM2-135M-Instruct, Q4_1 GGUF).

The protocol tests every backend passes (stop, length, cancel, seed, context limit, memory,
prompt-cache reuse) live in tests/backends/test_real_model.py, parametrized over backends.
Slow: real decoding runs at a few tokens per second on a CPU; the model loads once per session.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

import lmstream
from lmstream import StopReason

pytestmark = pytest.mark.slow

QUESTION = [{"role": "user", "content": "What is the capital of France?"}]


def test_mlx_lm_directory_round_trip(default_context: Any, converted_default: Path) -> None:
    assert {"config.json", "model.safetensors", "tokenizer.json", "tokenizer_config.json"} <= {
        p.name for p in converted_default.iterdir()}
    with lmstream.load(str(converted_default), backend="mlx") as context:
        assert context.info.context_length == 8192 and context.info.model_type == "llama"
        assert context.info.chat_template == default_context.info.chat_template
        text = "<|im_start|>user\nHi there, 123 ünïcödé!<|im_end|>"
        assert context.tokenizer.encode(text) == default_context.tokenizer.encode(text)
        assert context.tokenizer.eos_token_ids == default_context.tokenizer.eos_token_ids
        result = context.generate(messages=QUESTION, max_tokens=24)
        assert "Paris" in result.text and result.info.stop_reason is StopReason.STOP
