"""Load options of the mlx backend, validated before anything heavy is imported."""

from __future__ import annotations

from dataclasses import dataclass, fields
from typing import Any

DTYPES = ("float16", "bfloat16", "float32")
DEVICES = ("cpu", "gpu")


@dataclass(frozen=True)
class MlxOptions:
    """What ``lmstream.load(..., backend="mlx", **options)`` accepts."""

    tool_parser: str | None = None
    """Tool-call parser name (the core reads it from ``ModelInfo.options``)."""
    chat_template: str | None = None
    """Chat-template override (the core reads it from ``ModelInfo.options``)."""
    dtype: str | None = None
    """Cast floating-point weights (norms, embeddings, quantization scales) to this dtype."""
    compile: bool = False
    """``mx.compile`` each transformer block's MLP (no gain measured on CPU; see docs/backends.md)."""
    device: str | None = None
    """``"cpu"`` or ``"gpu"``; None: mlx's default device."""
    cpu_streams: int | None = None
    """Split each matmul over this many CPU streams (threads); None: the usable cores on CPU, 1 on GPU."""
    blas: bool | None = None
    """Multi-row products (prefill, batched decode) through numpy's BLAS on float32 weight
    copies; None: on for CPU when the copies fit in 1 GiB and ``compile`` is off (docs/backends.md)."""
    blas_one_row: bool | None = None
    """One-row products (decode steps, the output head) through BLAS too (with ``blas``);
    None: on CPU (numpy's float32 GEMV measured ~15x mlx's 4-bit kernel there)."""
    cpu_blocks: bool | None = None
    """Llama attention and MLP blocks on numpy (with ``blas``): fused projections and attention
    over a numpy KV cache; None: on CPU (docs/backends.md)."""
    blas_threads: int = 1
    """Threads numpy's BLAS may use for those products (1: measured steadier on a shared machine)."""
    lazy: bool = False
    """mlx-lm directories only: leave weights lazy until first use."""
    trust_remote_code: bool = False
    """mlx-lm directories only: allow a model file the directory ships."""
    revision: str | None = None
    """Hub ids only: the revision to fetch."""

    @classmethod
    def parse(cls, options: dict[str, Any]) -> MlxOptions:
        """Validate ``options``; unknown names raise a TypeError naming them and the known ones."""
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(options) - known)
        if unknown:
            raise TypeError(f"unknown mlx backend option(s): {', '.join(unknown)}; "
                            f"known: {', '.join(sorted(known))}")
        parsed = cls(**options)
        if parsed.dtype is not None and parsed.dtype not in DTYPES:
            raise ValueError(f"dtype must be one of {', '.join(DTYPES)}, not {parsed.dtype!r}")
        if parsed.device is not None and parsed.device not in DEVICES:
            raise ValueError(f"device must be one of {', '.join(DEVICES)}, not {parsed.device!r}")
        if not isinstance(parsed.compile, bool):
            raise TypeError(f"compile must be True or False, not {parsed.compile!r}")
        if parsed.blas is not None and not isinstance(parsed.blas, bool):
            raise TypeError(f"blas must be True, False or None, not {parsed.blas!r}")
        for name in ("blas_one_row", "cpu_blocks"):
            value = getattr(parsed, name)
            if value is not None and not isinstance(value, bool):
                raise TypeError(f"{name} must be True, False or None, not {value!r}")
        if parsed.blas and parsed.compile:
            raise ValueError("blas=True and compile=True do not mix: a compiled block cannot hand "
                             "its products to numpy; choose one")
        threads = parsed.blas_threads
        if isinstance(threads, bool) or not isinstance(threads, int) or threads < 1:
            raise ValueError(f"blas_threads must be a positive int, not {threads!r}")
        streams = parsed.cpu_streams
        if streams is not None and (isinstance(streams, bool) or not isinstance(streams, int) or streams < 1):
            raise ValueError(f"cpu_streams must be a positive int, not {streams!r}")
        return parsed

    def core_options(self) -> dict[str, Any]:
        """The options the core interprets, for ``ModelInfo.options``."""
        return {k: v for k, v in (("tool_parser", self.tool_parser),
                                  ("chat_template", self.chat_template)) if v is not None}
