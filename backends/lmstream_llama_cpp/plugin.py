"""Registers the ``llama_cpp`` backend. llama_cpp is imported only when the factory runs."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import lmstream

if TYPE_CHECKING:
    from lmstream.backend import BackendModel


def create_llama_cpp_backend(model: str | None = None, **options: Any) -> BackendModel:
    """Load the GGUF file ``model`` with llama.cpp (None: the embedded default SmolLM2-135M)."""
    from .model import create_backend

    return create_backend(model, **options)


@lmstream.hookimpl
def lmstream_register_backends(register: Callable[[str, Any], None]) -> None:
    """Register the ``llama_cpp`` backend factory."""
    register("llama_cpp", create_llama_cpp_backend)
