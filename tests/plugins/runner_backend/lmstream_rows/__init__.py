"""An example third-party lmstream backend that implements only the runner contract.

The ``rows`` backend has no ``token_iterator``: every generation API, ``ChatSession``,
structured output and the server run it through its ``BatchRunner``. Its "model" scores the
next byte of a scripted reply highest (a deterministic logits row), applies a constraint's
mask to that row, and takes the best allowed token, so it behaves like a greedy model.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import lmstream

from .model import RowsModel
from .options import RowsOptions
from .runner import RowsRunner

__all__ = ["RowsModel", "RowsOptions", "RowsRunner", "lmstream_register_backends"]


@lmstream.hookimpl
def lmstream_register_backends(register: Callable[[str, Any], None]) -> None:
    """Register the ``rows`` backend."""

    def factory(model: str | None = None, **options: Any) -> RowsModel:
        return RowsModel(RowsOptions(**options), name=model or "rows")

    register("rows", factory)
