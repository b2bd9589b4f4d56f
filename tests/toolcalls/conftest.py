"""Makes the chunking harness (toolcall_harness.py) importable by this folder's test modules,
and offers it as the ``harness`` fixture."""

from __future__ import annotations

import sys
from pathlib import Path
from types import ModuleType

import pytest

HERE = str(Path(__file__).resolve().parent)
if HERE not in sys.path:
    sys.path.insert(0, HERE)


@pytest.fixture(scope="session")
def harness() -> ModuleType:
    """The chunking harness module (also importable directly as ``toolcall_harness``)."""
    import toolcall_harness

    return toolcall_harness


@pytest.fixture(autouse=True)
def _offline(no_network: object) -> None:
    """Every test in this suite runs with the network guard: any connection attempt fails it."""
