"""Fixtures for ChatSession tests: scripted contexts that keep the scripted model's ChatML template."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

import lmstream
from lmstream_scripted.model import CHATML_TEMPLATE


@pytest.fixture
def chat_model(scripted: Callable[..., lmstream.ModelContext]) -> Callable[..., lmstream.ModelContext]:
    """Factory of scripted contexts with the ChatML template (closed after the test)."""

    def make(reply: Any = "Hello there.", **options: Any) -> lmstream.ModelContext:
        options.setdefault("model_chat_template", CHATML_TEMPLATE)
        return scripted(reply, **options)

    return make
