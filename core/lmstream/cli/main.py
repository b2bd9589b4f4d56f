"""``main(argv)``: parse, dispatch to a command, and map what happened to an exit code."""

from __future__ import annotations

import argparse
import importlib
import logging
import os
import sys
from collections.abc import Callable, Sequence

from ..errors import LmstreamError, ModelLoadError, TemplateError
from .console import Console
from .exitcodes import FAILED, INTERRUPTED, USAGE, UsageError

Command = Callable[[argparse.Namespace, Console], int]

USAGE_ERRORS: tuple[type[BaseException], ...] = (UsageError, ValueError, TypeError, LookupError, TemplateError)
"""Refused before generating: bad options, unknown names, invalid parameters, a prompt too long."""


COMMAND_MODULES = {"generate": "generate_command", "chat": "chat_command",
                   "plugins": "plugins_command", "bench": "bench_command"}


def _command(name: str) -> Command:
    """The ``run_<name>`` function, imported only for the command that runs."""
    module = importlib.import_module(f"{__package__}.{COMMAND_MODULES[name]}")
    command: Command = getattr(module, f"run_{name}")
    return command


def _configure_logging(verbosity: int) -> None:
    level = logging.WARNING if verbosity <= 0 else logging.INFO if verbosity == 1 else logging.DEBUG
    logging.basicConfig(level=level, format="%(levelname)s %(name)s: %(message)s", stream=sys.stderr)


def _exit_code(code: object) -> int:
    if code is None:
        return 0
    return code if isinstance(code, int) else USAGE


def main(argv: Sequence[str] | None = None) -> int:
    """Run the ``lmstream`` command line with ``argv`` (default: ``sys.argv[1:]``); return the exit code."""
    from .arguments import build_parser

    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exit_:  # argparse: --help (0) or bad arguments (2)
        return _exit_code(exit_.code)
    _configure_logging(args.verbose)
    console = Console(sys.stdout, sys.stderr)
    try:
        plugin_command = getattr(args, "plugin_command", None)
        if plugin_command is not None:
            code: int = plugin_command.run(args)
            return code
        return _command(args.command)(args, console)
    except KeyboardInterrupt:
        console.end_answer()
        console.note("lmstream: interrupted")
        return INTERRUPTED
    except BrokenPipeError:  # e.g. `lmstream generate ... | head -1`
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return FAILED
    except (ModelLoadError, OSError) as exc:
        _report(console, args, exc, "could not load the model" if isinstance(exc, ModelLoadError) else None)
        return FAILED
    except USAGE_ERRORS as exc:
        _report(console, args, exc, None)
        return USAGE
    except Exception as exc:
        _report(console, args, exc, None)
        return FAILED


def _report(console: Console, args: argparse.Namespace, exc: BaseException, context: str | None) -> None:
    if args.verbose >= 2:
        logging.getLogger("lmstream.cli").exception("%s failed", args.command)
    message = describe_error(exc)
    console.error(f"{context}: {message}" if context else message)


def describe_error(exc: BaseException) -> str:
    """One plain line naming the problem: no Python class prefix, no pydantic boilerplate.

    Validation errors are listed field by field (an unknown field says so); other errors give
    their message, or their class name when they have none.
    """
    errors = getattr(exc, "errors", None)
    if type(exc).__name__ == "ValidationError" and callable(errors):
        title = getattr(exc, "title", "input")
        details = "; ".join(_validation_detail(e) for e in errors())
        return f"invalid {title}: {details}"
    if isinstance(exc, UsageError | LmstreamError):
        return _one_line(str(exc))
    if isinstance(exc, KeyError) and exc.args:
        return _one_line(str(exc.args[0]))
    return _one_line(str(exc)) or type(exc).__name__


def _validation_detail(error: dict[str, object]) -> str:
    loc = error.get("loc", ())
    field = ".".join(str(part) for part in loc) if isinstance(loc, tuple) and loc else "value"
    if error.get("type") == "extra_forbidden":
        return f"{field} is not a known field"
    message = str(error.get("msg", "")).removeprefix("Value error, ")
    return f"{field}: {message}"


def _one_line(text: str) -> str:
    return " ".join(text.split())
