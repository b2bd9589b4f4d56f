"""llama.cpp's tokenizer behind the core protocol: special tokens, exact bytes, round trips.

Slow: it loads the default model (the tokenizer comes with the weights).
"""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import lmstream
from lmstream.pipeline._detokenize import ByteDetokenizer, make_detokenizer

pytestmark = pytest.mark.slow

SAMPLES = ["Hello world", "  two spaces, 123456 digits", "ünïcödé 日本語 🙂 emoji",
           "<|im_start|>user\nHi there!<|im_end|>\n<|im_start|>assistant\n", "tabs\tand\nnewlines\r\n"]


def test_special_markup_encodes_to_special_ids(llama_context: Any) -> None:
    tok = llama_context.tokenizer
    ids = tok.encode("<|im_start|>user\nHi<|im_end|>", add_special_tokens=False)
    assert tok.token_bytes(ids[0]) == b"<|im_start|>" and tok.token_bytes(ids[-1]) == b"<|im_end|>"
    assert tok.is_control(ids[0]) and ids[-1] in tok.eos_token_ids
    assert tok.decode(ids, skip_special_tokens=True) == "user\nHi"


def test_the_core_streams_with_the_exact_byte_detokenizer(llama_context: Any) -> None:
    tok = llama_context.tokenizer
    assert isinstance(make_detokenizer(tok), ByteDetokenizer)
    for text in SAMPLES:
        detok = make_detokenizer(tok)
        ids = tok.encode(text, add_special_tokens=False)
        assert "".join(detok.step(i) for i in ids) + detok.flush() == text == tok.decode(ids)


ASSIGNED = st.characters(exclude_categories=("Cn", "Co", "Cs", "Cc"), include_characters="\t\n\r")
"""llama.cpp's tokenizer is lossy for unassigned and private-use code points (U+40000 comes
back as three U+FFFD), and this vocabulary has no tokens for a few control bytes (0x04, 0x06,
0x13, 0x14, 0x16, 0x1d are dropped): llama.cpp's own behaviour, shared by llama-cpp-python.
Everything else round-trips."""


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(text=st.text(ASSIGNED, max_size=40))
def test_any_text_round_trips_through_ids_and_streamed_bytes(llama_context: Any, text: str) -> None:
    tok = llama_context.tokenizer
    ids = tok.encode(text, add_special_tokens=False)
    detok = make_detokenizer(tok)
    streamed = "".join(detok.step(i) for i in ids) + detok.flush()
    assert tok.decode(ids) == text == streamed


def test_out_of_vocabulary_ids_are_refused(llama_context: Any) -> None:
    tok = llama_context.tokenizer
    with pytest.raises(ValueError, match="outside the vocabulary"):
        tok.decode([tok.vocab_size])
    with pytest.raises(ValueError, match="outside the vocabulary"):
        llama_context.backend_model.validate([tok.vocab_size + 5], lmstream.GenerationParameters())


def test_same_ids_as_the_mlx_backend(llama_context: Any, default_contexts: Any) -> None:
    mlx_tok = default_contexts("mlx").tokenizer
    tok = llama_context.tokenizer
    for text in SAMPLES:
        assert tok.encode(text) == mlx_tok.encode(text), text
    messages = [{"role": "user", "content": "What is the capital of France?"}]
    user_input = lmstream.UserInput(messages=messages)
    assert llama_context.prepare(user_input).tokens == default_contexts("mlx").prepare(user_input).tokens
    assert mlx_tok.eos_token_ids <= tok.eos_token_ids
