"""Load options of the mlx backend, validated before anything heavy is imported."""

from __future__ import annotations

from typing import ClassVar, Literal

from pydantic import Field, model_validator

from lmstream.backend import BackendOptions

DTYPES = ("float16", "bfloat16", "float32")
DEVICES = ("cpu", "gpu")


class MlxOptions(BackendOptions):
    """What ``lmstream.load(..., backend="mlx", **options)`` accepts."""

    kind: ClassVar[str] = "mlx backend"

    dtype: Literal["float16", "bfloat16", "float32"] | None = None
    """Cast floating-point weights (norms, embeddings, quantization scales) to this dtype."""
    compile: bool = False
    """``mx.compile`` each transformer block's MLP (no gain measured on CPU; see docs/backends.md)."""
    device: Literal["cpu", "gpu"] | None = None
    """``"cpu"`` or ``"gpu"``; None: mlx's default device."""
    cpu_streams: int | None = Field(None, ge=1)
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
    cpu_share: bool | None = None
    """Share large BLAS products between the calling thread and one helper thread (with
    ``blas``): True every product of 4+ rows and prefill attention; None (the default, on CPU
    with 2+ usable cores): batched decode steps' and verification's products only (4-64 rows,
    bound by arithmetic; one-row steps read memory as fast alone); False: none (docs/backends.md)."""
    blas_threads: int = Field(1, ge=1)
    """Threads numpy's BLAS may use for those products (1: measured steadier on a shared machine)."""
    lazy: bool = False
    """mlx-lm directories only: leave weights lazy until first use."""
    trust_remote_code: bool = False
    """mlx-lm directories only: allow a model file the directory ships."""
    revision: str | None = None
    """Hub ids only: the revision to fetch."""

    @model_validator(mode="after")
    def _blas_or_compile(self) -> MlxOptions:
        if self.blas and self.compile:
            raise ValueError("blas=True and compile=True do not mix: a compiled block cannot hand "
                             "its products to numpy; choose one")
        return self
