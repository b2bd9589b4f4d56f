"""Reasoning on the OpenAI chat wire: which key carries it, and what ``reasoning_effort`` does.

Clients look for the model's thinking under ``reasoning_content`` (DeepSeek, older vLLM) or
``reasoning`` (vLLM since 2025, OpenRouter); the server writes both by default
(``ServerLimits.reasoning_field``) and accepts either on assistant messages sent back.
``reasoning_effort`` turns the template's thinking switch on (``enable_thinking``; ``"none"``
turns it off) and, when the core has a reasoning budget, bounds the reasoning tokens. On a
model without a reasoning format the switch does nothing: the request is served and the
answer has no reasoning.
"""

from __future__ import annotations

from typing import Any, Literal

from .parameters import parameters_supported

ReasoningField = Literal["both", "reasoning_content", "reasoning"]
REASONING_FIELDS: tuple[str, ...] = ("both", "reasoning_content", "reasoning")

ReasoningEffort = Literal["none", "minimal", "low", "medium", "high", "xhigh", "max"]
EFFORT_BUDGETS: dict[str, int] = {"minimal": 256, "low": 1024, "medium": 4096, "high": 16384,
                                  "xhigh": 32768, "max": 65536}
"""Reasoning tokens allowed per ``reasoning_effort`` (a budget the core closes reasoning at)."""


def reasoning_keys(field: str) -> tuple[str, ...]:
    """The message / delta keys that carry reasoning text for a ``reasoning_field`` setting."""
    if field == "both":
        return ("reasoning_content", "reasoning")
    return (field,)


def with_reasoning(target: dict[str, Any], text: str, field: str) -> dict[str, Any]:
    """``target`` with the reasoning ``text`` under the configured key(s)."""
    for key in reasoning_keys(field):
        target[key] = text
    return target


def effort_settings(effort: str | None, max_tokens: int | None) -> tuple[bool | None, dict[str, Any]]:
    """``(enable_thinking, parameter values)`` for a ``reasoning_effort``.

    ``None`` leaves the template's default; ``"none"`` switches thinking off; any other effort
    switches it on with a budget (never above ``max_tokens``, when the core has budgets).
    """
    if effort is None:
        return None, {}
    if effort == "none":
        return False, {}
    values: dict[str, Any] = {}
    if parameters_supported("reasoning_budget"):
        budget = EFFORT_BUDGETS[effort]
        values["reasoning_budget"] = min(budget, max_tokens) if max_tokens else budget
    return True, values


def incoming_reasoning(message: dict[str, Any]) -> dict[str, Any]:
    """An assistant message sent back with ``reasoning`` gets it as ``reasoning_content``
    (the name the core and the templates use); ``reasoning_content`` wins when both are given."""
    values = dict(message)
    if "reasoning" not in values:
        return values
    reasoning = values.pop("reasoning")
    if values.get("reasoning_content") is None and reasoning is not None:
        values["reasoning_content"] = reasoning
    return values
