"""Greedy parity with mlx-lm: the same tokens as mlx_lm.stream_generate on the converted default model."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

import lmstream

pytestmark = pytest.mark.slow

STORY = [{"role": "user", "content": "Write a short story about a dragon who learns to fly."}]


def test_greedy_tokens_equal_mlx_lm_stream_generate(default_context: Any, converted_default: Path) -> None:
    import mlx_lm

    prompt = list(default_context.prepare(lmstream.UserInput(messages=STORY)).tokens)
    ours = [event.id for event in lmstream.generate_tokens(
        lmstream.LMInput(tokens=tuple(prompt)), context=default_context,
        parameters={"max_tokens": 64}, include_stop_token=True) if isinstance(event, lmstream.Token)]

    model, tokenizer = mlx_lm.load(str(converted_default))
    assert tokenizer.encode(tokenizer.apply_chat_template(STORY, add_generation_prompt=True, tokenize=False),
                            add_special_tokens=False) == prompt
    theirs = [response.token for response in mlx_lm.stream_generate(model, tokenizer, prompt, max_tokens=64)]
    assert len(ours) == 64
    assert ours == theirs
