"""llama.cpp's own tokenizer behind the core's Tokenizer protocol.

``token_bytes`` hands the core each token's raw bytes (llama.cpp's piece, special tokens
rendered), so the core streams text with its exact byte-level detokenizer. ``encode``
parses special-token markup in the text (``<|im_start|>`` becomes one id), as the chat
templates' output needs; ``add_special_tokens`` adds BOS/EOS where the model asks for them.
"""

from __future__ import annotations

import ctypes
from collections.abc import Sequence
from typing import Any

import llama_cpp

MAX_TEXT_BYTES = 64 * 1024 * 1024
"""Largest text ``encode`` accepts (bounded memory for untrusted input)."""


class LlamaCppTokenizer:
    """Tokenize, detokenize and inspect special tokens with the model's llama.cpp vocabulary."""

    def __init__(self, vocab: Any) -> None:
        self._vocab = vocab
        self.vocab_size = int(llama_cpp.llama_vocab_n_tokens(vocab))
        self._pieces: list[bytes | None] = [None] * self.vocab_size
        bos = int(llama_cpp.llama_vocab_bos(vocab))
        eos = int(llama_cpp.llama_vocab_eos(vocab))
        self.bos_token_id: int | None = bos if 0 <= bos < self.vocab_size else None
        self.eos_token_id: int | None = eos if 0 <= eos < self.vocab_size else None
        self.bos_token = self.token_text(bos) if self.bos_token_id is not None else None
        self.eos_token = self.token_text(eos) if self.eos_token_id is not None else None
        self.add_bos_token = bool(llama_cpp.llama_vocab_get_add_bos(vocab))
        # llama.cpp's end-of-generation set: EOS, EOT, EOM and the tokens it recognizes as such.
        is_eog = llama_cpp.llama_vocab_is_eog
        self.eos_token_ids: frozenset[int] = frozenset(
            i for i in range(self.vocab_size) if is_eog(vocab, i))

    def token_text(self, token_id: int) -> str:
        """The vocabulary entry of one id (as stored: ``Ġ`` / ``▁`` markers included)."""
        raw = llama_cpp.llama_vocab_get_text(self._vocab, int(token_id))
        return raw.decode("utf-8", errors="replace") if raw else ""

    def is_control(self, token_id: int) -> bool:
        """Whether ``token_id`` is a control (special) token."""
        return bool(llama_cpp.llama_vocab_is_control(self._vocab, int(token_id)))

    def token_bytes(self, token_id: int) -> bytes:
        """The raw bytes of one token (special tokens rendered as their text)."""
        piece = self._pieces[token_id] if 0 <= token_id < self.vocab_size else None
        if piece is None:
            if not 0 <= token_id < self.vocab_size:
                raise ValueError(f"token id {token_id} is outside the vocabulary (size {self.vocab_size})")
            piece = self._pieces[token_id] = self._piece(token_id)
        return piece

    def _piece(self, token_id: int) -> bytes:
        size = 32
        while True:
            buf = ctypes.create_string_buffer(size)
            n = llama_cpp.llama_token_to_piece(self._vocab, token_id, buf, size, 0, True)
            if n >= 0:
                return buf.raw[:n]
            size = -n

    def encode(self, text: str, *, add_special_tokens: bool = True) -> list[int]:
        """Token ids of ``text``; special-token markup in the text maps to the special ids."""
        if not isinstance(text, str):
            raise TypeError(f"encode() needs a str, not {type(text).__name__}")
        data = text.encode("utf-8")
        if len(data) > MAX_TEXT_BYTES:
            raise ValueError(f"text is {len(data)} bytes; encode() takes at most {MAX_TEXT_BYTES}")
        capacity = len(data) + 8
        while True:
            tokens = (llama_cpp.llama_token * capacity)()
            n = llama_cpp.llama_tokenize(self._vocab, data, len(data), tokens, capacity,
                                         add_special_tokens, True)
            if n >= 0:
                return list(tokens[:n])
            capacity = -n

    def decode(self, ids: Sequence[int], *, skip_special_tokens: bool = False) -> str:
        """Text of ``ids`` (special tokens kept unless ``skip_special_tokens``)."""
        clean = [int(i) for i in ids]
        bad = [i for i in clean if not 0 <= i < self.vocab_size]
        if bad:
            raise ValueError(f"token ids outside the vocabulary (size {self.vocab_size}): {bad[:8]}")
        if skip_special_tokens:
            clean = [i for i in clean if not self.is_control(i)]
        return b"".join(self.token_bytes(i) for i in clean).decode("utf-8", errors="replace")

    def __repr__(self) -> str:
        return (f"LlamaCppTokenizer(vocab_size={self.vocab_size}, bos_token={self.bos_token!r}, "
                f"eos_token={self.eos_token!r})")
