"""Load options of the llama.cpp backend, validated before llama_cpp is imported."""

from __future__ import annotations

import os
from typing import ClassVar

from pydantic import Field, model_validator

from lmstream.backend import BackendOptions

MAX_SEQUENCES = 64
"""Upper bound of ``n_seq_max`` (llama.cpp's own limit is 256; KV cells are shared anyway)."""


def usable_cores() -> int:
    """CPU cores this process may run on (the affinity mask where the OS tells it)."""
    try:
        return max(len(os.sched_getaffinity(0)), 1)
    except AttributeError:  # macOS, Windows
        return max(os.cpu_count() or 1, 1)


def decode_threads() -> int:
    """Default decode threads: the usable cores but one (at least one).

    A decode step is one token's small products, where llama.cpp's threads spend much of the
    step synchronizing, and the Python side (the stream's consumer, the server) needs a core
    to take each token: on the 2-core machine one decode thread beat two, directly in
    llama-cpp-python (68 against 63 tok/s, quiet) and more so through lmstream (63 against
    53). Prefill's large products do scale, so ``n_threads_batch`` keeps every core.
    """
    return max(1, usable_cores() - 1)


class LlamaCppOptions(BackendOptions):
    """What ``lmstream.load(..., backend="llama_cpp", **options)`` accepts."""

    kind: ClassVar[str] = "llama_cpp backend"

    n_ctx: int | None = Field(None, ge=1)
    """KV cells of the context, shared by all sequences; None: the model's training context."""
    n_batch: int = Field(512, ge=1)
    """Tokens one ``llama_decode`` takes at most (prefill chunks are capped by it)."""
    n_ubatch: int = Field(512, ge=1)
    """Physical micro-batch llama.cpp splits a batch into (at most ``n_batch``)."""
    n_threads: int | None = Field(None, ge=1)
    """Threads for decode steps; None: ``decode_threads()`` (one core fewer than usable)."""
    n_threads_batch: int | None = Field(None, ge=1)
    """Threads for prefill; None: the usable CPU cores."""
    n_gpu_layers: int = Field(0, ge=-1)
    """Layers offloaded to the GPU of a Metal/CUDA/Vulkan build (-1: all); ignored on CPU builds."""
    use_mmap: bool = True
    """Memory-map the file instead of reading it."""
    use_mlock: bool = False
    """Lock the weights in RAM (no swapping)."""
    n_seq_max: int = Field(8, ge=1, le=MAX_SEQUENCES)
    """Sequences stepped together at most (the batch runner's ``max_batch_size``)."""
    flash_attn: bool | None = False
    """Flash attention on or off (off, as llama-cpp-python's default); None: llama.cpp decides."""
    verbose: bool = False
    """Forward llama.cpp's info/debug log lines to the ``lmstream.llama_cpp`` logger at INFO."""

    @model_validator(mode="after")
    def _ubatch_within_batch(self) -> LlamaCppOptions:
        if self.n_ubatch > self.n_batch:
            raise ValueError(f"n_ubatch ({self.n_ubatch}) must not exceed n_batch ({self.n_batch})")
        return self

    @property
    def threads(self) -> int:
        """Decode threads."""
        return self.n_threads or decode_threads()

    @property
    def threads_batch(self) -> int:
        """Prefill threads."""
        return self.n_threads_batch or usable_cores()
