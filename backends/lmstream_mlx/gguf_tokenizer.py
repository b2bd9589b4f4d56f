"""Build a ``tokenizers.Tokenizer`` from GGUF tokenizer metadata.

Two GGUF tokenizer models are supported, as llama.cpp defines them:
``gpt2`` (byte-level BPE: vocab + merges, a pre-tokenizer chosen by ``tokenizer.ggml.pre``)
and ``llama`` (SentencePiece BPE: vocab + scores, byte fallback, the ``▁`` space marker).
Token types mark special (CONTROL) and added (USER_DEFINED) tokens; BOS/EOS ids and
``add_bos_token`` become a post-processor. No mlx import: ``metadata`` is a plain dict.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from typing import Any

from tokenizers import (
    AddedToken,
    Regex,
    Tokenizer,
    decoders,
    models,
    normalizers,
    pre_tokenizers,
    processors,
)

from lmstream import ModelLoadError

from .tokenizer import TokenizersTokenizer

logger = logging.getLogger("lmstream.mlx")

NORMAL, UNKNOWN, CONTROL, USER_DEFINED, UNUSED, BYTE = 1, 2, 3, 4, 5, 6

_GPT2_SPLIT = r"'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+"
_LLAMA3_SPLIT = (r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}"
                 r"| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+")
_QWEN2_SPLIT = (r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}"
                r"| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+")

# tokenizer.ggml.pre -> pre-tokenizer family (the regexes llama.cpp uses for these names).
_PRE_FAMILIES: dict[str, str] = {
    "gpt2": "gpt2", "default": "gpt2",
    "smollm": "digits+gpt2", "starcoder": "digits+gpt2", "refact": "digits+gpt2",
    "codeshell": "digits+gpt2",
    "llama3": "llama3", "llama-bpe": "llama3", "llama-v3": "llama3", "smaug-bpe": "llama3",
    "qwen2": "qwen2",
}
SUPPORTED_PRE = tuple(sorted(_PRE_FAMILIES))
SUPPORTED_MODELS = ("gpt2", "llama")


def _require(metadata: Mapping[str, Any], key: str) -> Any:
    if key not in metadata:
        raise ModelLoadError(f"GGUF metadata has no {key!r}; cannot build the tokenizer")
    return metadata[key]


def _byte_level_pre(pre: str | None) -> tuple[pre_tokenizers.PreTokenizer, bool, bool]:
    """Pre-tokenizer for a ``gpt2`` GGUF tokenizer, plus (ignore_merges, nfc)."""
    family = _PRE_FAMILIES.get(pre or "default")
    if family is None:
        raise ModelLoadError(
            f"GGUF pre-tokenizer {pre!r} is not supported; supported: {', '.join(SUPPORTED_PRE)}")
    if pre is None:
        logger.warning("GGUF file names no tokenizer.ggml.pre; using the GPT-2 pre-tokenizer")
    byte_level = pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=True)
    if family == "gpt2":
        return byte_level, False, False
    if family == "digits+gpt2":
        return pre_tokenizers.Sequence([pre_tokenizers.Digits(individual_digits=True),
                                        byte_level]), False, False
    pattern = _LLAMA3_SPLIT if family == "llama3" else _QWEN2_SPLIT
    split = pre_tokenizers.Split(Regex(pattern), behavior="isolated", invert=False)
    no_regex = pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=False)
    return pre_tokenizers.Sequence([split, no_regex]), family == "llama3", family == "qwen2"


def _bpe_tokenizer(metadata: Mapping[str, Any], tokens: Sequence[str]) -> tuple[Tokenizer, bool]:
    """A byte-level BPE tokenizer (GGUF model ``gpt2``) and its default for add_bos."""
    merges_raw = _require(metadata, "tokenizer.ggml.merges")
    merges = []
    for merge in merges_raw:
        left, sep, right = merge.partition(" ")
        if not sep:
            raise ModelLoadError(f"GGUF merge {merge!r} is not two tokens separated by a space")
        merges.append((left, right))
    pre = metadata.get("tokenizer.ggml.pre")
    pre_tokenizer, ignore_merges, nfc = _byte_level_pre(pre)
    vocab = {token: i for i, token in enumerate(tokens)}
    tok = Tokenizer(models.BPE(vocab=vocab, merges=merges, ignore_merges=ignore_merges,
                               fuse_unk=False, byte_fallback=False))
    tok.pre_tokenizer = pre_tokenizer
    tok.decoder = decoders.ByteLevel()
    if nfc:
        tok.normalizer = normalizers.NFC()
    return tok, pre in ("llama3", "llama-bpe", "llama-v3", "smaug-bpe")


def spm_merges(tokens: Sequence[str], scores: Sequence[float],
               types: Sequence[int]) -> list[tuple[str, str]]:
    """BPE merges equivalent to SentencePiece's score-greedy merging (as transformers derives them)."""
    mergeable = {tok: i for i, tok in enumerate(tokens) if types[i] in (NORMAL, USER_DEFINED)}
    found: list[tuple[str, str, float]] = []
    for piece, piece_id in mergeable.items():
        local = [(piece[:k], piece[k:], float(scores[piece_id])) for k in range(1, len(piece))
                 if piece[:k] in mergeable and piece[k:] in mergeable]
        local.sort(key=lambda m: (mergeable[m[0]], mergeable[m[1]]))
        found.extend(local)
    found.sort(key=lambda m: (m[2], len(m[0]), len(m[1])), reverse=True)
    return [(left, right) for left, right, _ in found]


def _spm_tokenizer(metadata: Mapping[str, Any], tokens: Sequence[str],
                   types: Sequence[int]) -> tuple[Tokenizer, bool]:
    """A SentencePiece-style BPE tokenizer (GGUF model ``llama``) and its default for add_bos."""
    scores = metadata.get("tokenizer.ggml.scores")
    if scores is None or len(scores) != len(tokens):
        raise ModelLoadError("GGUF 'llama' tokenizer needs tokenizer.ggml.scores, one per token")
    unk_id = metadata.get("tokenizer.ggml.unknown_token_id")
    unk = tokens[unk_id] if unk_id is not None and 0 <= unk_id < len(tokens) else None
    vocab = {token: i for i, token in enumerate(tokens)}
    tok = Tokenizer(models.BPE(vocab=vocab, merges=spm_merges(tokens, scores, types),
                               unk_token=unk, fuse_unk=True, byte_fallback=True))
    add_space_prefix = bool(metadata.get("tokenizer.ggml.add_space_prefix", True))
    replace = normalizers.Replace(" ", "▁")
    tok.normalizer = (normalizers.Sequence([normalizers.Prepend("▁"), replace])
                      if add_space_prefix else replace)
    steps = [decoders.Replace("▁", " "), decoders.ByteFallback(), decoders.Fuse()]
    if add_space_prefix:
        steps.append(decoders.Strip(" ", 1, 0))
    tok.decoder = decoders.Sequence(steps)
    return tok, True


def _token(tokens: Sequence[str], metadata: Mapping[str, Any], key: str) -> tuple[int | None, str | None]:
    token_id = metadata.get(key)
    if token_id is None:
        return None, None
    token_id = int(token_id)
    if not 0 <= token_id < len(tokens):
        raise ModelLoadError(f"GGUF {key}={token_id} is outside the vocabulary (size {len(tokens)})")
    return token_id, tokens[token_id]


def _post_processor(bos: tuple[int | None, str | None], eos: tuple[int | None, str | None],
                    add_bos: bool, add_eos: bool) -> processors.PostProcessor | None:
    """A template that adds BOS/EOS when ``encode(..., add_special_tokens=True)``."""
    single: list[str] = []
    special: list[tuple[str, int]] = []
    if add_bos and bos[0] is not None and bos[1] is not None:
        single.append(bos[1])
        special.append((bos[1], bos[0]))
    single.append("$A")
    if add_eos and eos[0] is not None and eos[1] is not None:
        single.append(eos[1])
        if eos[1] not in dict(special):
            special.append((eos[1], eos[0]))
    if not special:
        return None
    pair = [*single, "$B:1"]
    return processors.TemplateProcessing(single=single, pair=pair, special_tokens=special)


def tokenizer_from_gguf_metadata(metadata: Mapping[str, Any]) -> TokenizersTokenizer:
    """The model's tokenizer, built only from GGUF metadata (plain Python values)."""
    model = metadata.get("tokenizer.ggml.model")
    tokens = list(_require(metadata, "tokenizer.ggml.tokens"))
    types = list(metadata.get("tokenizer.ggml.token_type") or [NORMAL] * len(tokens))
    if len(types) != len(tokens):
        raise ModelLoadError(f"GGUF has {len(tokens)} tokens but {len(types)} token types")
    if model == "gpt2":
        tok, default_add_bos = _bpe_tokenizer(metadata, tokens)
    elif model == "llama":
        tok, default_add_bos = _spm_tokenizer(metadata, tokens, types)
    else:
        raise ModelLoadError(
            f"GGUF tokenizer model {model!r} is not supported; supported: {', '.join(SUPPORTED_MODELS)}")
    special = [AddedToken(tokens[i], special=True, normalized=False)
               for i, t in enumerate(types) if t in (CONTROL, UNKNOWN)]
    added = [AddedToken(tokens[i], special=False, normalized=False)
             for i, t in enumerate(types) if t == USER_DEFINED]
    if special:
        tok.add_special_tokens(special)
    if added:
        tok.add_tokens(added)
    bos = _token(tokens, metadata, "tokenizer.ggml.bos_token_id")
    eos = _token(tokens, metadata, "tokenizer.ggml.eos_token_id")
    add_bos = bool(metadata.get("tokenizer.ggml.add_bos_token", default_add_bos))
    add_eos = bool(metadata.get("tokenizer.ggml.add_eos_token", False))
    post = _post_processor(bos, eos, add_bos, add_eos)
    if post is not None:
        tok.post_processor = post
    eos_ids = {i for i in (eos[0],
                           _token(tokens, metadata, "tokenizer.ggml.eot_token_id")[0],
                           _token(tokens, metadata, "tokenizer.ggml.eom_token_id")[0])
               if i is not None}
    return TokenizersTokenizer(tok, bos_token=bos[1], eos_token=eos[1], eos_token_ids=eos_ids)


def special_tokens_from_gguf_metadata(metadata: Mapping[str, Any]) -> dict[str, str]:
    """``{bos_token, eos_token, unk_token, pad_token}`` as far as the metadata names them."""
    tokens = metadata.get("tokenizer.ggml.tokens") or []
    result: dict[str, str] = {}
    for name in ("bos", "eos", "unknown", "padding", "eot"):
        _, token = _token(tokens, metadata, f"tokenizer.ggml.{name}_token_id")
        if token is not None:
            key = {"unknown": "unk", "padding": "pad"}.get(name, name)
            result[f"{key}_token"] = token
    return result
