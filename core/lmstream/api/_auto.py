"""``backend="auto"`` (the default): the fastest installed backend for this machine, and why.

MLX where it has an accelerator (Apple silicon's Metal, mlx's CUDA build); llama.cpp on a
CPU-only machine when its backend is installed (several times MLX's CPU speed); otherwise MLX,
with a one-time hint naming the faster option.
"""

from __future__ import annotations

import importlib.util
import logging
import platform
from collections.abc import Collection
from dataclasses import dataclass

logger = logging.getLogger("lmstream")

AUTO = "auto"
"""The backend name that asks for this choice (``None`` means the same)."""
LLAMA_CPP_HINT = ('the MLX backend runs on the CPU here; llama.cpp is several times '
                  'faster on a CPU-only machine: pip install "lmstream[llama-cpp]"')
_hinted = False


@dataclass(frozen=True)
class BackendChoice:
    """The backend a load runs and why (``auto: CPU-only machine, llama.cpp installed``)."""

    name: str
    reason: str

    def describe(self) -> str:
        """``llama_cpp (auto: CPU-only machine, llama.cpp installed)``."""
        return f"{self.name} ({self.reason})"


def mlx_accelerator() -> str | None:
    """``"Metal"`` or ``"CUDA"`` when an installed mlx has that device, else None."""
    if importlib.util.find_spec("mlx") is None:
        return None
    try:
        import mlx.core as mx

        if mx.metal.is_available():
            return "Metal"
        cuda = getattr(mx, "cuda", None)
        if cuda is not None and cuda.is_available():
            return "CUDA"
    except Exception:  # a broken mlx install: no accelerator to prefer
        return None
    return None


def _apple_silicon() -> bool:
    return platform.system() == "Darwin" and platform.machine() == "arm64"


def _importable(module: str) -> bool:
    try:
        return importlib.util.find_spec(module) is not None
    except (ImportError, ValueError):
        return False


def choose_backend(requested: str | None, registered: Collection[str]) -> BackendChoice:
    """The backend for ``load(backend=requested)`` among the ``registered`` names.

    A name other than ``"auto"`` is taken as given. ``None``/``"auto"``: MLX on Apple silicon
    or with mlx's CUDA build; llama.cpp on a CPU-only machine when it is installed; otherwise
    MLX (logging, once, how to get the faster backend).
    """
    if requested is not None and requested != AUTO:
        return BackendChoice(requested, "requested")
    has_mlx, has_llama = "mlx" in registered, "llama_cpp" in registered and _importable("llama_cpp")
    if has_mlx:
        if _apple_silicon():
            return BackendChoice("mlx", "auto: Apple silicon")
        accelerator = mlx_accelerator()
        if accelerator is not None:
            return BackendChoice("mlx", f"auto: mlx has {accelerator}")
    if has_llama:
        return BackendChoice("llama_cpp", "auto: CPU-only machine, llama.cpp installed")
    if has_mlx:
        _hint_once()
        return BackendChoice("mlx", "auto: CPU-only machine, llama.cpp not installed")
    return BackendChoice("mlx", "auto: no known fast backend installed")


def _hint_once() -> None:
    global _hinted
    if not _hinted:
        _hinted = True
        logger.warning(LLAMA_CPP_HINT)
