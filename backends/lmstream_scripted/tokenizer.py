"""A byte-level tokenizer whose vocabulary grows with the pieces a script cuts its reply into.

Ids 0-255 are single bytes; a few special tokens follow; every other piece of bytes gets an id
the first time it is seen. Prompts encode byte by byte (special-token strings as one id).
"""

from __future__ import annotations

import re
import threading
from collections.abc import Sequence

SPECIAL_TOKENS = ("<|endoftext|>", "<|im_start|>", "<|im_end|>")
EOS_TOKEN = "<|endoftext|>"
END_OF_TURN = "<|im_end|>"


class ScriptedTokenizer:
    """Exact, lossless tokenizer for the scripted backend (``token_bytes`` enables exact streaming)."""

    def __init__(self) -> None:
        self._pieces: list[bytes] = [bytes([b]) for b in range(256)]
        self._ids: dict[bytes, int] = {}
        self._lock = threading.Lock()
        self.special_ids: dict[str, int] = {}
        for token in SPECIAL_TOKENS:
            self.special_ids[token] = len(self._pieces)
            self._pieces.append(token.encode())
        self._special_by_id = {v: k for k, v in self.special_ids.items()}
        self._special_pattern = re.compile("(" + "|".join(re.escape(t) for t in SPECIAL_TOKENS) + ")")
        self.bos_token: str | None = None
        self.eos_token: str | None = EOS_TOKEN
        self.eos_token_ids = frozenset({self.special_ids[EOS_TOKEN], self.special_ids[END_OF_TURN]})

    @property
    def eos_token_id(self) -> int:
        """The id ending a reply."""
        return self.special_ids[EOS_TOKEN]

    def piece_id(self, piece: bytes) -> int:
        """The id of a piece of bytes, registering it on first use."""
        if len(piece) == 1:
            return piece[0]
        found = self._ids.get(piece)
        if found is not None:
            return found
        with self._lock:
            found = self._ids.get(piece)
            if found is None:
                found = len(self._pieces)
                self._pieces.append(piece)
                self._ids[piece] = found
            return found

    def token_bytes(self, token_id: int) -> bytes:
        """The raw bytes of a token."""
        try:
            return self._pieces[token_id]
        except IndexError:
            raise ValueError(f"token id {token_id} is not in the scripted vocabulary") from None

    def encode(self, text: str, *, add_special_tokens: bool = True) -> list[int]:
        """Bytes of the text, with special-token strings as their single ids."""
        ids: list[int] = []
        for part in self._special_pattern.split(text):
            if part in self.special_ids:
                ids.append(self.special_ids[part])
            elif part:
                ids.extend(part.encode("utf-8"))
        return ids

    def decode(self, ids: Sequence[int], *, skip_special_tokens: bool = False) -> str:
        """Text of the ids (invalid UTF-8 becomes U+FFFD)."""
        pieces = self._pieces
        special = self._special_by_id
        data = b"".join(pieces[i] for i in ids if not (skip_special_tokens and i in special))
        return data.decode("utf-8", errors="replace")

    @property
    def vocab_size(self) -> int:
        """Ids handed out so far."""
        return len(self._pieces)
