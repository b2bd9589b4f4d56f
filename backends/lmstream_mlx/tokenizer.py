"""Tokenizer adapters for the core's Tokenizer protocol.

``TokenizersTokenizer`` wraps any ``tokenizers.Tokenizer`` (built from GGUF metadata or taken
from a Hugging Face fast tokenizer); ``HFTokenizerAdapter`` covers slow Hugging Face
tokenizers that have no ``tokenizers`` backend (the core then decodes windows of ids).
No mlx import here: tokenizers alone are cheap to build and test.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

import tokenizers


class TokenizersTokenizer:
    """The core Tokenizer protocol over a ``tokenizers.Tokenizer``.

    Special-token insertion (BOS/EOS) is the tokenizer's post-processor's job, so
    ``encode(text, add_special_tokens=...)`` means exactly what it means in ``tokenizers``.
    """

    def __init__(self, tokenizer: tokenizers.Tokenizer, *, bos_token: str | None,
                 eos_token: str | None, eos_token_ids: Iterable[int]) -> None:
        self.backend_tokenizer = tokenizer
        self.bos_token = bos_token
        self.eos_token = eos_token
        self.eos_token_ids: frozenset[int] = frozenset(int(i) for i in eos_token_ids)
        if not self.eos_token_ids and eos_token is not None:
            eos_id = tokenizer.token_to_id(eos_token)
            if eos_id is not None:
                self.eos_token_ids = frozenset({eos_id})

    @property
    def vocab_size(self) -> int:
        """Number of ids the tokenizer knows, added tokens included."""
        return int(self.backend_tokenizer.get_vocab_size(with_added_tokens=True))

    @property
    def bos_token_id(self) -> int | None:
        """Id of the BOS token, or None when the model has none."""
        return self.token_to_id(self.bos_token) if self.bos_token is not None else None

    def token_to_id(self, token: str) -> int | None:
        """The id of one token string, or None when it is not in the vocabulary."""
        result = self.backend_tokenizer.token_to_id(token)
        return None if result is None else int(result)

    def id_to_token(self, token_id: int) -> str | None:
        """The token string of one id, or None when the id is out of range."""
        return self.backend_tokenizer.id_to_token(int(token_id))

    def encode(self, text: str, *, add_special_tokens: bool = True) -> list[int]:
        """Token ids of ``text``; special-token markup in the text maps to the special ids."""
        if not isinstance(text, str):
            raise TypeError(f"encode() needs a str, not {type(text).__name__}")
        return list(self.backend_tokenizer.encode(text, add_special_tokens=add_special_tokens).ids)

    def decode(self, ids: Sequence[int], *, skip_special_tokens: bool = False) -> str:
        """Text of ``ids`` (special tokens kept unless ``skip_special_tokens``)."""
        return str(self.backend_tokenizer.decode([int(i) for i in ids],
                                                 skip_special_tokens=skip_special_tokens))

    def __repr__(self) -> str:
        return (f"TokenizersTokenizer(vocab_size={self.vocab_size}, bos_token={self.bos_token!r}, "
                f"eos_token={self.eos_token!r})")


class HFTokenizerAdapter:
    """The core Tokenizer protocol over a Hugging Face tokenizer without a ``tokenizers`` backend."""

    def __init__(self, tokenizer: Any, *, eos_token_ids: Iterable[int]) -> None:
        self._tokenizer = tokenizer
        self.bos_token: str | None = getattr(tokenizer, "bos_token", None)
        self.eos_token: str | None = getattr(tokenizer, "eos_token", None)
        ids = {int(i) for i in eos_token_ids}
        eos_id = getattr(tokenizer, "eos_token_id", None)
        if not ids and eos_id is not None:
            ids = {int(eos_id)}
        self.eos_token_ids: frozenset[int] = frozenset(ids)

    def encode(self, text: str, *, add_special_tokens: bool = True) -> list[int]:
        """Token ids of ``text`` as the Hugging Face tokenizer encodes it."""
        return [int(i) for i in self._tokenizer.encode(text, add_special_tokens=add_special_tokens)]

    def decode(self, ids: Sequence[int], *, skip_special_tokens: bool = False) -> str:
        """Text of ``ids`` as the Hugging Face tokenizer decodes it."""
        return str(self._tokenizer.decode([int(i) for i in ids],
                                          skip_special_tokens=skip_special_tokens))
