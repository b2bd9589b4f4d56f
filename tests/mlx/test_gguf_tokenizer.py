"""The tokenizer built from GGUF metadata: byte-level BPE (gpt2) and SentencePiece (llama) models."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from tiny_model import tiny_metadata

from lmstream.errors import ModelLoadError
from lmstream_mlx.gguf_tokenizer import spm_merges, tokenizer_from_gguf_metadata


def test_bpe_merges_specials_and_digits() -> None:
    tok = tokenizer_from_gguf_metadata(tiny_metadata())
    ids = tok.encode("hello world")
    assert [tok.id_to_token(i) for i in ids] == ["hello", "Ġworld"]
    assert tok.encode("<|im_start|>user")[0] == 1
    assert len(tok.encode("2024")) == 4  # smollm pre-tokenizer: one token per digit
    assert tok.eos_token_ids == frozenset({2})
    assert (tok.bos_token, tok.eos_token) == ("<|im_start|>", "<|im_end|>")


def test_bpe_add_bos_and_eot() -> None:
    tok = tokenizer_from_gguf_metadata(tiny_metadata(**{"tokenizer.ggml.add_bos_token": True,
                                                       "tokenizer.ggml.eot_token_id": 0}))
    assert tok.encode("hello")[0] == 1
    assert tok.encode("hello", add_special_tokens=False)[0] != 1
    assert tok.eos_token_ids == frozenset({0, 2})


@settings(max_examples=60, deadline=None)
@given(st.text(max_size=40))
def test_bpe_round_trips_any_text(text: str) -> None:
    tok = tokenizer_from_gguf_metadata(tiny_metadata())
    assert tok.decode(tok.encode(text, add_special_tokens=False)) == text


@pytest.mark.parametrize(("key", "value", "named"), [
    ("tokenizer.ggml.model", "bert", "bert"),
    ("tokenizer.ggml.pre", "mystery-pre", "mystery-pre"),
    ("tokenizer.ggml.merges", ["nospace"], "nospace"),
    ("tokenizer.ggml.eos_token_id", 10_000, "10000"),
])
def test_bpe_bad_metadata_names_the_problem(key: str, value: object, named: str) -> None:
    with pytest.raises(ModelLoadError, match=named):
        tokenizer_from_gguf_metadata(tiny_metadata(**{key: value}))


SPM_PIECES = [("▁", -1.0), ("h", -2.0), ("e", -2.0), ("l", -2.0), ("o", -2.0), ("w", -2.0),
              ("r", -2.0), ("d", -2.0), ("▁h", -3.0), ("ll", -3.5), ("▁he", -4.0), ("▁hell", -5.0),
              ("▁hello", -6.0), ("▁w", -3.0), ("or", -3.2), ("ld", -3.3), ("▁wor", -5.5), ("▁world", -7.0)]


def spm_metadata(**overrides: object) -> dict[str, object]:
    tokens = ["<unk>", "<s>", "</s>"] + [f"<0x{b:02X}>" for b in range(256)] + [p for p, _ in SPM_PIECES]
    scores = [0.0, 0.0, 0.0] + [0.0] * 256 + [s for _, s in SPM_PIECES]
    types = [2, 3, 3] + [6] * 256 + [1] * len(SPM_PIECES)
    meta: dict[str, object] = {
        "tokenizer.ggml.model": "llama", "tokenizer.ggml.tokens": tokens,
        "tokenizer.ggml.scores": scores, "tokenizer.ggml.token_type": types,
        "tokenizer.ggml.bos_token_id": 1, "tokenizer.ggml.eos_token_id": 2,
        "tokenizer.ggml.unknown_token_id": 0,
    }
    meta.update(overrides)
    return meta


def test_spm_pieces_bos_and_byte_fallback() -> None:
    tok = tokenizer_from_gguf_metadata(spm_metadata())
    ids = tok.encode("hello world")
    assert ids[0] == 1  # llama tokenizers add BOS by default
    assert [tok.id_to_token(i) for i in ids[1:]] == ["▁hello", "▁world"]
    accented = tok.encode("hé", add_special_tokens=False)
    assert [tok.id_to_token(i) for i in accented] == ["▁h", "<0xC3>", "<0xA9>"]
    assert tok.decode(accented) == "hé"
    assert tok.decode(ids, skip_special_tokens=True) == "hello world"


def test_spm_merges_follow_scores() -> None:
    tokens = [p for p, _ in SPM_PIECES]
    merges = spm_merges(tokens, [s for _, s in SPM_PIECES], [1] * len(tokens))
    assert merges.index(("▁", "h")) < merges.index(("▁he", "ll"))
    assert ("▁hell", "o") in merges


@settings(max_examples=60, deadline=None)
@given(st.text(alphabet="helowrd é\n", max_size=30))
def test_spm_round_trips_text(text: str) -> None:
    tok = tokenizer_from_gguf_metadata(spm_metadata())
    assert tok.decode(tok.encode(text, add_special_tokens=False)) == text


def test_spm_needs_scores() -> None:
    with pytest.raises(ModelLoadError, match="scores"):
        tokenizer_from_gguf_metadata(spm_metadata(**{"tokenizer.ggml.scores": None}))
