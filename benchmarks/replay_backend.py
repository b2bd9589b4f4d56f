"""A benchmark backend that replays fixed token ids with a real tokenizer (no model, no delay).

``real_tokenizer()`` builds the embedded default model's tokenizer (SmolLM2's byte-level BPE)
from its GGUF header through lmstream_mlx's GGUF tokenizer builder, without loading weights;
``install_replay_backend(tokenizer, ids)`` registers a backend named ``replay`` whose token
iterator yields ``ids`` in order, so the per-token cost measured is lmstream's alone.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Any

import lmstream

NAME = "replay"


def real_tokenizer() -> Any | None:
    """The default model's tokenizer from its GGUF header, or None when it is not installed."""
    try:
        from lmstream_mlx.gguf_tokenizer import tokenizer_from_gguf_metadata
        from lmstream_mlx.loading import default_model_path
        from lmstream_templates.gguf import read_gguf_metadata

        path = default_model_path()
    except (ImportError, lmstream.ModelLoadError):
        return None
    return tokenizer_from_gguf_metadata(read_gguf_metadata(path, prefix="tokenizer."))


class ReplayModel(lmstream.backend.BackendModel):
    """Yields the given ids one by one (never EOS): ``max_tokens`` ends the generation."""

    def __init__(self, tokenizer: Any, ids: Sequence[int]) -> None:
        self.tokenizer = tokenizer
        self.ids = list(ids)
        self.info = lmstream.ModelInfo(name="replay", backend=NAME, context_length=len(ids) + 4096)

    def new_cache(self) -> lmstream.PromptCache:
        return lmstream.ListPromptCache()  # token ids only: nothing to keep

    def token_iterator(self, prompt: Sequence[int], parameters: lmstream.GenerationParameters,
                       cache: lmstream.PromptCache | None,
                       control: lmstream.backend.GenerationControl) -> Iterator[int]:
        control.mark_prefill_done(len(prompt), 0)
        yield from self.ids


def install_replay_backend(tokenizer: Any, ids: Sequence[int]) -> str:
    """Register (or replace) the ``replay`` backend replaying ``ids``; returns its name."""
    system = lmstream.get_plugin_system()

    class Plugin:
        @lmstream.hookimpl
        def lmstream_register_backends(self, register: Any) -> None:
            register(NAME, lambda model=None, **options: ReplayModel(tokenizer, ids))

    if system.pm.has_plugin("replay-benchmark"):
        system.unregister(name="replay-benchmark")
    system.register(Plugin(), name="replay-benchmark")
    return NAME
