"""The rows model: a byte tokenizer, a ChatML template, typed capabilities, and its runner."""

from __future__ import annotations

from collections.abc import Sequence

import lmstream
from lmstream import GenerationParameters, ListPromptCache, PromptCache

from .options import RowsOptions
from .runner import RowsRunner

EOS = 256
"""The end-of-sequence token (bytes are tokens 0-255)."""
VOCAB_SIZE = 257
CHATML = (
    "{% for message in messages %}"
    "{{ '<|im_start|>' + message['role'] + '\n' + (message['content'] or '') + '<|im_end|>\n' }}"
    "{% endfor %}"
    "{% if add_generation_prompt %}{{ '<|im_start|>assistant\n' }}{% endif %}"
)


class ByteTokenizer:
    """Bytes are tokens 0-255; 256 is EOS (``token_bytes`` gives the exact detokenizer)."""

    eos_token_ids = frozenset({EOS})
    bos_token: str | None = None
    eos_token: str | None = "</s>"
    vocab_size = VOCAB_SIZE

    def encode(self, text: str, *, add_special_tokens: bool = True) -> list[int]:
        """UTF-8 bytes."""
        return list(text.encode("utf-8"))

    def decode(self, ids: Sequence[int], *, skip_special_tokens: bool = False) -> str:
        """The bytes' text (EOS writes nothing)."""
        return bytes(i for i in ids if i < 256).decode("utf-8", errors="replace")

    def token_bytes(self, token_id: int) -> bytes:
        """One token's bytes."""
        return bytes([token_id]) if token_id < 256 else b""


class RowsModel(lmstream.backend.BackendModel):
    """A backend that implements ``new_batch_runner`` and nothing of ``token_iterator``."""

    supports_constraints = True
    vocab_size = VOCAB_SIZE
    special_token_ids = frozenset({EOS})

    def __init__(self, options: RowsOptions, name: str = "rows") -> None:
        self.options = options
        self.tokenizer = ByteTokenizer()
        self.info = lmstream.ModelInfo(name=name, backend="rows", chat_template=CHATML,
                                       context_length=options.context_length,
                                       special_tokens={"eos_token": "</s>"})

    def new_cache(self) -> PromptCache:
        """A cache of the ids fed (this 'model' keeps no other state)."""
        return ListPromptCache()

    def new_batch_runner(self) -> RowsRunner:
        """The compute contract: every sequence of this model runs here."""
        return RowsRunner(self.options, self.tokenizer.encode(self.options.reply))

    def validate(self, prompt: Sequence[int], parameters: GenerationParameters) -> None:
        """Prompt ids must be bytes or EOS."""
        bad = [t for t in prompt if not 0 <= t < VOCAB_SIZE]
        if bad:
            raise ValueError(f"prompt token ids outside the vocabulary (size {VOCAB_SIZE}): {bad[:8]}")
