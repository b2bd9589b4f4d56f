"""Fixtures for the llama.cpp backend tests.

Where llama-cpp-python is not installed, the modules that need it are not collected and
test_options.py (which needs nothing) still runs; the default model loads once per session.
"""

from __future__ import annotations

import importlib.util
from collections.abc import Callable, Iterator
from typing import Any

import pytest

HAS_LLAMA_CPP = importlib.util.find_spec("llama_cpp") is not None
NEEDS_LLAMA_CPP = ["test_loading.py", "test_runner.py", "test_parity.py", "test_tokenizer.py",
                   "test_server.py"]
collect_ignore = [] if HAS_LLAMA_CPP else NEEDS_LLAMA_CPP


@pytest.fixture(scope="session")
def llama_context(default_contexts: Callable[[str], Any]) -> Any:
    """The default model on the llama_cpp backend (shared with tests/backends)."""
    return default_contexts("llama_cpp")


@pytest.fixture
def small_context(require_backend: Callable[[str], None]) -> Iterator[Any]:
    """The default model with a small KV cache and 3 slots (to test the limits)."""
    import lmstream

    require_backend("llama_cpp")
    context = lmstream.load(backend="llama_cpp", n_ctx=256, n_seq_max=3, n_batch=64, n_ubatch=64)
    yield context
    context.close()
