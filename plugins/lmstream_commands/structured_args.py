"""``lmstream generate`` structured-output options: --json-schema, --regex, --grammar."""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

from lmstream.cli import UsageError


def add_structured_options(parser: argparse.ArgumentParser) -> None:
    """Add the mutually exclusive constraint options, --constrain-reasoning and --reasoning-budget."""
    group = parser.add_argument_group("structured output (needs lmstream[structured])")
    exclusive = group.add_mutually_exclusive_group()
    exclusive.add_argument("--json-schema", metavar="FILE|JSON",
                           help="the answer is JSON valid against this schema (a file, or inline JSON)")
    exclusive.add_argument("--regex", metavar="PATTERN", help="the answer matches this regex")
    exclusive.add_argument("--grammar", metavar="FILE", help="the answer follows this Lark grammar (a file)")
    group.add_argument("--constrain-reasoning", action="store_true",
                       help="constrain from the first token (default: reasoning stays free)")
    group.add_argument("--reasoning-budget", type=int, metavar="N",
                       help="reasoning tokens at most; then the reasoning is closed and the answer starts")


def _read(value: str, option: str) -> str:
    path = Path(value)
    try:
        return path.read_text(encoding="utf-8")
    except OSError as exc:
        raise UsageError(f"{option}: cannot read {value!r}: {exc.strerror or exc}") from None


def structured_values(args: argparse.Namespace) -> dict[str, Any]:
    """GenerationParameters fields for the structured-output options given (may be empty)."""
    values: dict[str, Any] = {}
    schema_arg = getattr(args, "json_schema", None)
    if schema_arg is not None:
        text = schema_arg if schema_arg.lstrip().startswith("{") else _read(schema_arg, "--json-schema")
        try:
            schema = json.loads(text)
        except ValueError as exc:
            raise UsageError(f"--json-schema is not JSON: {exc}") from None
        values["response_format"] = {"type": "json_schema", "json_schema": {"name": "cli", "schema": schema}}
    elif getattr(args, "regex", None) is not None:
        values["response_format"] = {"type": "regex", "pattern": args.regex}
    elif getattr(args, "grammar", None) is not None:
        values["response_format"] = {"type": "grammar", "lark": _read(args.grammar, "--grammar")}
    if getattr(args, "constrain_reasoning", False):
        values["constrain_reasoning"] = True
    budget = getattr(args, "reasoning_budget", None)
    if budget is not None:
        if budget < 0:
            raise UsageError(f"--reasoning-budget must be 0 or more, got {budget}")
        values["reasoning_budget"] = budget
    return values
