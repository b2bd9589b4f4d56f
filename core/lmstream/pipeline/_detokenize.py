"""Streaming detokenizers: token ids in, text deltas out, never a broken UTF-8 character.

Three exact strategies, picked by what the tokenizer offers:
- ``backend_tokenizer`` (a ``tokenizers.Tokenizer``): ``tokenizers.decoders.DecodeStream``;
- ``token_bytes(id) -> bytes``: an incremental UTF-8 decoder over the raw token bytes;
- otherwise: decode a sliding window of ids and emit the stable difference (vLLM's method).
"""

from __future__ import annotations

import codecs
from collections.abc import Callable, Sequence
from typing import Any, Protocol

REPLACEMENT = "\ufffd"


class StreamingDetokenizer(Protocol):
    """Turns one token id at a time into text; ``flush`` returns what is held at the end."""

    def step(self, token_id: int) -> str: ...

    def flush(self) -> str: ...


class DecodeStreamDetokenizer:
    """Uses ``tokenizers``' Rust DecodeStream; held ids are decoded lossy only at the end."""

    __slots__ = ("_pending", "_stream", "_tokenizer")

    def __init__(self, tokenizer: Any) -> None:
        from tokenizers.decoders import DecodeStream

        self._tokenizer = tokenizer
        self._stream = DecodeStream(skip_special_tokens=False)
        self._pending: list[int] = []

    def step(self, token_id: int) -> str:
        text = self._stream.step(self._tokenizer, token_id)
        if text is None:
            self._pending.append(token_id)
            return ""
        if self._pending:
            self._pending.clear()
        return text if type(text) is str else str(text)

    def flush(self) -> str:
        if not self._pending:
            return ""
        text = self._tokenizer.decode(self._pending, skip_special_tokens=False)
        self._pending.clear()
        return str(text) or REPLACEMENT


class ByteDetokenizer:
    """For tokenizers whose tokens are raw byte strings (byte-level vocabularies)."""

    __slots__ = ("_decoder", "_token_bytes")

    def __init__(self, token_bytes: Callable[[int], bytes]) -> None:
        self._token_bytes = token_bytes
        self._decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")

    def step(self, token_id: int) -> str:
        return self._decoder.decode(self._token_bytes(token_id))

    def flush(self) -> str:
        return self._decoder.decode(b"", final=True)


class WindowDetokenizer:
    """Generic fallback: decode a short window of ids and emit the part that is stable."""

    __slots__ = ("_decode", "_ids", "_prefix", "_read")

    def __init__(self, decode: Callable[[Sequence[int]], str]) -> None:
        self._decode = decode
        self._ids: list[int] = []
        self._prefix = 0
        self._read = 0

    def step(self, token_id: int) -> str:
        ids = self._ids
        ids.append(token_id)
        prefix_text = self._decode(ids[self._prefix:self._read])
        new_text = self._decode(ids[self._prefix:])
        if new_text.endswith(REPLACEMENT) or len(new_text) <= len(prefix_text):
            return ""  # an incomplete character: wait for the next token
        delta = new_text[len(prefix_text):]
        self._prefix, self._read = self._read, len(ids)
        if self._prefix > 64:  # keep the window short
            del ids[: self._prefix]
            self._read -= self._prefix
            self._prefix = 0
        return delta

    def flush(self) -> str:
        ids = self._ids
        prefix_text = self._decode(ids[self._prefix:self._read])
        rest = self._decode(ids[self._prefix:])[len(prefix_text):]
        self._ids, self._prefix, self._read = [], 0, 0
        return rest


def make_detokenizer(tokenizer: Any) -> StreamingDetokenizer:
    """The best exact streaming detokenizer this tokenizer supports."""
    backend = getattr(tokenizer, "backend_tokenizer", None)
    if backend is not None:
        return DecodeStreamDetokenizer(backend)
    token_bytes = getattr(tokenizer, "token_bytes", None)
    if token_bytes is not None:
        return ByteDetokenizer(token_bytes)

    def decode(ids: Sequence[int]) -> str:
        return str(tokenizer.decode(list(ids), skip_special_tokens=False))

    return WindowDetokenizer(decode)
