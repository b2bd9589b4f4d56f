"""``lmstream generate --reasoning-budget N`` sets GenerationParameters.reasoning_budget."""

from __future__ import annotations

import pytest

from lmstream.cli import UsageError, build_parser
from lmstream_commands.arguments import generation_parameters


def test_reasoning_budget_option() -> None:
    args = build_parser().parse_args(["generate", "q", "--reasoning-budget", "12"])
    assert generation_parameters(args).reasoning_budget == 12
    assert generation_parameters(build_parser().parse_args(["generate", "q"])).reasoning_budget is None
    with pytest.raises(UsageError, match="--reasoning-budget"):
        generation_parameters(build_parser().parse_args(["generate", "q", "--reasoning-budget", "-1"]))
