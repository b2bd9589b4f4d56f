"""CPU speed-ups (see docs/backends.md for the measurements behind each default)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import mlx.core as mx
import mlx.nn as nn

from .options import MlxOptions


@dataclass
class SpeedPlan:
    """What was applied to a model for speed; ``forward`` replaces single-token model calls."""

    forward: Callable[..., Any] | None = None
    applied: list[str] = field(default_factory=list)


def apply_speed_plan(model: nn.Module, options: MlxOptions, device: mx.Device) -> SpeedPlan:
    """Apply the speed options (defaults depend on the device) and say what was applied."""
    return SpeedPlan()
