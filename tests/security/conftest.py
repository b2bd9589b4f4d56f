"""The security suite runs offline: any socket connection attempt fails the test."""

from __future__ import annotations

import pytest


@pytest.fixture(autouse=True)
def _offline(no_network: object) -> None:
    """Apply the shared ``no_network`` guard to every security test."""
