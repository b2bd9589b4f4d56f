"""Streaming detokenizers: every strategy equals a whole decode, and never splits a character."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers

from lmstream.pipeline._detokenize import (
    ByteDetokenizer,
    DecodeStreamDetokenizer,
    WindowDetokenizer,
    make_detokenizer,
)
from lmstream_scripted import ScriptedTokenizer

CORPUS = ["Hello world, naïve café!", "日本語のテキスト", "emoji 🙂🚀 mix", "the quick brown fox"] * 20


@pytest.fixture(scope="module")
def bpe() -> Tokenizer:
    tokenizer = Tokenizer(models.BPE())
    tokenizer.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tokenizer.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(vocab_size=400, initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
                                  special_tokens=["<eos>"])
    tokenizer.train_from_iterator(CORPUS, trainer)
    return tokenizer


class Wrapped:
    def __init__(self, tokenizer: Tokenizer) -> None:
        self.backend_tokenizer = tokenizer


def _stream(detok, ids):
    parts = [detok.step(i) for i in ids]
    parts.append(detok.flush())
    return parts


TEXT = st.text(st.sampled_from(list("ab é日本🙂🚀 xyz\n")), max_size=30)


@settings(max_examples=80, deadline=None)
@given(text=TEXT)
def test_decode_stream_equals_whole_decode(bpe, text):
    ids = bpe.encode(text).ids
    parts = _stream(DecodeStreamDetokenizer(bpe), ids)
    assert "".join(parts) == bpe.decode(ids) == text
    assert all("\ufffd" not in p for p in parts)


@settings(max_examples=80, deadline=None)
@given(text=TEXT)
def test_window_fallback_equals_whole_decode(bpe, text):
    ids = bpe.encode(text).ids
    parts = _stream(WindowDetokenizer(lambda xs: bpe.decode(list(xs))), ids)
    assert "".join(parts) == text
    assert all("\ufffd" not in p for p in parts)


@settings(max_examples=80, deadline=None)
@given(text=TEXT)
def test_byte_detokenizer_on_single_bytes(text):
    tokenizer = ScriptedTokenizer()
    ids = list(text.encode())
    parts = _stream(ByteDetokenizer(tokenizer.token_bytes), ids)
    assert "".join(parts) == text and all("\ufffd" not in p for p in parts)


def test_incomplete_character_at_end_is_flushed_lossy(bpe):
    tokenizer = ScriptedTokenizer()
    detok = ByteDetokenizer(tokenizer.token_bytes)
    assert detok.step(0xF0) == "" and detok.step(0x9F) == ""
    assert detok.flush() == "\ufffd"
    stream = DecodeStreamDetokenizer(bpe)
    ids = bpe.encode("🙂").ids
    if len(ids) > 1:  # the emoji spans tokens: hold its first part, flush it lossy
        assert stream.step(ids[0]) == ""
        assert stream.flush() != ""


def test_make_detokenizer_picks_the_exact_strategy(bpe):
    assert isinstance(make_detokenizer(Wrapped(bpe)), DecodeStreamDetokenizer)
    assert isinstance(make_detokenizer(ScriptedTokenizer()), ByteDetokenizer)

    class DecodeOnly:
        def decode(self, ids, *, skip_special_tokens=False):
            return bytes(ids).decode("utf-8", errors="replace")

    detok = make_detokenizer(DecodeOnly())
    assert isinstance(detok, WindowDetokenizer)
    assert "".join(_stream(detok, list("ünï 🙂".encode()))) == "ünï 🙂"


def test_window_detokenizer_keeps_a_short_window():
    detok = WindowDetokenizer(lambda xs: bytes(xs).decode("utf-8", errors="replace"))
    text = "abcdefgh" * 100
    assert "".join(detok.step(b) for b in text.encode()) == text
    assert len(detok._ids) <= 66
