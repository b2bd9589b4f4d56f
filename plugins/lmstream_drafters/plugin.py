"""Registers the built-in drafters through lmstream's entry point, like any plugin."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import lmstream
from lmstream.backend import BackendModel, Drafter


def prompt_lookup(backend_model: BackendModel, **options: Any) -> Drafter:
    """``drafter="prompt_lookup"``: n-gram lookup in the prompt and output (see the module)."""
    from .prompt_lookup import PromptLookupDrafter

    return PromptLookupDrafter.from_options(**options)


def draft_model(backend_model: BackendModel, **options: Any) -> Drafter:
    """``drafter="draft_model"``: a second, smaller model on the same backend (draft_model.py)."""
    from .draft_model import DraftModelDrafter

    return DraftModelDrafter.from_options(backend_model, **options)


@lmstream.hookimpl
def lmstream_register_drafters(register: Callable[[str, Any], None]) -> None:
    """Register the built-in drafters; each imports its module only when a context loads it."""
    register("prompt_lookup", prompt_lookup)
    register("draft_model", draft_model)
