"""Fixtures for ChatSession tests: scripted contexts that keep the scripted model's ChatML template."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest

import lmstream


@pytest.fixture
def chat_model() -> Iterator[Callable[..., lmstream.ModelContext]]:
    """Factory of scripted contexts with the ChatML template (closed after the test)."""
    contexts: list[lmstream.ModelContext] = []

    def make(reply: Any = "Hello there.", **options: Any) -> lmstream.ModelContext:
        context = lmstream.load(backend="scripted", reply=reply, **options)
        contexts.append(context)
        return context

    yield make
    for context in contexts:
        context.close()
