"""An example third-party lmstream plugin: the ``echo`` backend answers with the prompt's text.

It is registered through its own distribution's ``lmstream`` entry point, exactly as any
third-party plugin would be, and implements the BackendModel contract from scratch.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from typing import Any

import lmstream
from lmstream import PromptCache
from lmstream.backend import GenerationControl

EOS = 256


class ByteTokenizer:
    """Bytes are tokens 0-255; 256 is EOS."""

    eos_token_ids = frozenset({EOS})
    bos_token: str | None = None
    eos_token: str | None = "</s>"

    def encode(self, text: str, *, add_special_tokens: bool = True) -> list[int]:
        return list(text.encode("utf-8"))

    def decode(self, ids: Sequence[int], *, skip_special_tokens: bool = False) -> str:
        return bytes(i for i in ids if i < 256).decode("utf-8", errors="replace")

    def token_bytes(self, token_id: int) -> bytes:
        return bytes([token_id]) if token_id < 256 else b""


class EchoModel(lmstream.backend.BackendModel):
    """Echoes the prompt, upper-cased when ``shout=True``."""

    def __init__(self, shout: bool = False) -> None:
        self.shout = shout
        self.tokenizer = ByteTokenizer()
        self.info = lmstream.ModelInfo(name="echo", backend="echo", context_length=1024)

    def new_cache(self) -> PromptCache:
        return lmstream.ListPromptCache()

    def token_iterator(self, prompt: Sequence[int], parameters: lmstream.GenerationParameters,
                       cache: PromptCache | None, control: GenerationControl) -> Iterator[int]:
        control.mark_prefill_done(len(prompt), 0)
        text = self.tokenizer.decode(prompt)
        yield from (text.upper() if self.shout else text).encode("utf-8")
        yield EOS


@lmstream.hookimpl
def lmstream_register_backends(register: Callable[[str, Any], None]) -> None:
    """Register the ``echo`` backend."""

    def factory(model: str | None = None, *, shout: bool = False) -> EchoModel:
        return EchoModel(shout=shout)

    register("echo", factory)
