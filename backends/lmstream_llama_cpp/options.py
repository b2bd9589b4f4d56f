"""Load options of the llama.cpp backend, validated before llama_cpp is imported."""

from __future__ import annotations

import os
from dataclasses import dataclass, fields
from typing import Any

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


@dataclass(frozen=True)
class LlamaCppOptions:
    """What ``lmstream.load(..., backend="llama_cpp", **options)`` accepts."""

    tool_parser: str | None = None
    """Tool-call parser name (the core reads it from ``ModelInfo.options``)."""
    chat_template: str | None = None
    """Chat-template override (the core reads it from ``ModelInfo.options``)."""
    n_ctx: int | None = None
    """KV cells of the context, shared by all sequences; None: the model's training context."""
    n_batch: int = 512
    """Tokens one ``llama_decode`` takes at most (prefill chunks are capped by it)."""
    n_ubatch: int = 512
    """Physical micro-batch llama.cpp splits a batch into (at most ``n_batch``)."""
    n_threads: int | None = None
    """Threads for decode steps; None: ``decode_threads()`` (one core fewer than usable)."""
    n_threads_batch: int | None = None
    """Threads for prefill; None: the usable CPU cores."""
    n_gpu_layers: int = 0
    """Layers offloaded to the GPU of a Metal/CUDA/Vulkan build (-1: all); ignored on CPU builds."""
    use_mmap: bool = True
    """Memory-map the file instead of reading it."""
    use_mlock: bool = False
    """Lock the weights in RAM (no swapping)."""
    n_seq_max: int = 8
    """Sequences stepped together at most (the batch runner's ``max_batch_size``)."""
    flash_attn: bool | None = False
    """Flash attention on or off (off, as llama-cpp-python's default); None: llama.cpp decides."""
    verbose: bool = False
    """Forward llama.cpp's info/debug log lines to the ``lmstream.llama_cpp`` logger at INFO."""

    @classmethod
    def parse(cls, options: dict[str, Any]) -> LlamaCppOptions:
        """Validate ``options``; unknown names raise a TypeError naming them and the known ones."""
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(options) - known)
        if unknown:
            raise TypeError(f"unknown llama_cpp backend option(s): {', '.join(unknown)}; "
                            f"known: {', '.join(sorted(known))}")
        parsed = cls(**options)
        for name in ("n_batch", "n_ubatch", "n_seq_max"):
            _positive_int(name, getattr(parsed, name))
        for name in ("n_ctx", "n_threads", "n_threads_batch"):
            value = getattr(parsed, name)
            if value is not None:
                _positive_int(name, value)
        if isinstance(parsed.n_gpu_layers, bool) or not isinstance(parsed.n_gpu_layers, int) \
                or parsed.n_gpu_layers < -1:
            raise ValueError(f"n_gpu_layers must be an int >= -1, not {parsed.n_gpu_layers!r}")
        if parsed.n_ubatch > parsed.n_batch:
            raise ValueError(f"n_ubatch ({parsed.n_ubatch}) must not exceed n_batch ({parsed.n_batch})")
        if parsed.n_seq_max > MAX_SEQUENCES:
            raise ValueError(f"n_seq_max must be at most {MAX_SEQUENCES}, not {parsed.n_seq_max}")
        for name in ("use_mmap", "use_mlock", "verbose"):
            if not isinstance(getattr(parsed, name), bool):
                raise TypeError(f"{name} must be True or False, not {getattr(parsed, name)!r}")
        if parsed.flash_attn is not None and not isinstance(parsed.flash_attn, bool):
            raise TypeError(f"flash_attn must be True, False or None, not {parsed.flash_attn!r}")
        return parsed

    @property
    def threads(self) -> int:
        """Decode threads."""
        return self.n_threads or decode_threads()

    @property
    def threads_batch(self) -> int:
        """Prefill threads."""
        return self.n_threads_batch or usable_cores()

    def core_options(self) -> dict[str, Any]:
        """The options the core interprets, for ``ModelInfo.options``."""
        return {k: v for k, v in (("tool_parser", self.tool_parser),
                                  ("chat_template", self.chat_template)) if v is not None}


def _positive_int(name: str, value: Any) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ValueError(f"{name} must be a positive int, not {value!r}")
