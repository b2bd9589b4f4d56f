"""The one set of rules every HTTP request model follows: strict types, no extras, bounded lists.

``WireModel`` is the base of every request body model on every route. It is strict the way the
core's ``GenerationParameters`` is: no bool, string or float coerced into a number, no string
into a bool (``stream: "true"`` is a 400), no NaN or infinity, and an unknown field is a 400
naming it. ``WireLimits`` bounds every list that reaches the hot path (messages, stop
sequences, tools, logit_bias entries, ...); ``check_count`` is the one place that refuses them.
"""

from __future__ import annotations

from collections.abc import Sized
from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel, ConfigDict

from .errors import APIError


class WireModel(BaseModel):
    """Base of every request model: strict types, unknown fields refused, finite floats only."""

    model_config = ConfigDict(extra="forbid", strict=True, allow_inf_nan=False)


@dataclass(frozen=True)
class WireLimits:
    """Count limits on request lists (named in docs/server.md; every one a 400 when exceeded)."""

    max_messages: int = 10_000
    max_stop_sequences: int = 64
    max_tools: int = 512
    max_logit_bias: int = 1_024
    max_content_blocks: int = 10_000
    max_input_items: int = 10_000

    def __post_init__(self) -> None:
        for name, value in vars(self).items():
            if not isinstance(value, int) or isinstance(value, bool) or value < 1:
                raise ValueError(f"{name} must be an integer of at least 1")


def check_count(values: Sized | None, limit: int, param: str) -> None:
    """A 400 naming ``param`` when ``values`` has more than ``limit`` entries."""
    if values is not None and len(values) > limit:
        raise APIError(400, f"{param} has {len(values)} entries; this server allows at most {limit}",
                       param=param, code="too_many_items")


def kind_of(raw: dict[str, Any], where: str, default: str | None = None) -> str | None:
    """The ``type`` of a raw object (a content block, an input item, a tool) before it is
    dispatched on: a string, ``default`` when absent, and a 400 naming ``{where}.type`` for
    any other value (a list or an object there must not reach a lookup by type)."""
    kind = raw.get("type", default)
    if kind is None or isinstance(kind, str):
        return kind
    raise APIError(400, f"{where}.type must be a string, not {type(kind).__name__}", param=f"{where}.type",
                   code="invalid_value")
