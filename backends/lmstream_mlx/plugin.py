"""Registers the ``mlx`` backend. mlx and mlx-lm are imported only when the factory runs."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import lmstream

if TYPE_CHECKING:
    from lmstream.backend import BackendModel


def create_mlx_backend(model: str | None = None, **options: Any) -> BackendModel:
    """Load ``model`` with mlx (None: the embedded default SmolLM2-135M-Instruct)."""
    from .model import create_backend

    return create_backend(model, **options)


@lmstream.hookimpl
def lmstream_register_backends(register: Callable[[str, Any], None]) -> None:
    """Register the ``mlx`` backend factory."""
    register("mlx", create_mlx_backend)
