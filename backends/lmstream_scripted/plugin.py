"""Registers the ``scripted`` backend through lmstream's entry point, like any plugin."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import lmstream


@lmstream.hookimpl
def lmstream_register_backends(register: Callable[[str, Any], None]) -> None:
    """Register ``scripted``; its module is imported only when a model is loaded."""

    def factory(model: str | None = None, **options: Any) -> lmstream.backend.BackendModel:
        from .model import load_scripted

        return load_scripted(model, **options)

    register("scripted", factory)
