"""The ``structured`` plugin: registers the ``llguidance`` constraint engine (imported lazily)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import lmstream


@lmstream.hookimpl
def lmstream_register_constraint_engines(register: Callable[[str, Any], None]) -> None:
    """Register ``llguidance`` (JSON schema, regex, Lark grammars, tool calls)."""
    from .engine import LLGuidanceEngine

    register("llguidance", LLGuidanceEngine())
