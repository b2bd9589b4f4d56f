"""``main(argv)``: parse, run the registered command, and map what happened to an exit code.

Every command is a plugin's (``lmstream_register_commands``); this module only dispatches.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
from collections.abc import Sequence

from ..errors import LmstreamError, ModelLoadError, TemplateError
from ..hooks import get_plugin_system
from .exitcodes import FAILED, INTERRUPTED, USAGE, UsageError
from .parser import BUILT_IN_COMMANDS, SELECTED, build_parser, built_ins_missing, requested_command

USAGE_ERRORS: tuple[type[BaseException], ...] = (UsageError, ValueError, TypeError, LookupError, TemplateError)
"""Refused before generating: bad options, unknown names, invalid parameters, a prompt too long."""


def _configure_logging(verbosity: int) -> None:
    level = logging.WARNING if verbosity <= 0 else logging.INFO if verbosity == 1 else logging.DEBUG
    logging.basicConfig(level=level, format="%(levelname)s %(name)s: %(message)s", stream=sys.stderr)


def _exit_code(code: object) -> int:
    if code is None:
        return 0
    return code if isinstance(code, int) else USAGE


def main(argv: Sequence[str] | None = None) -> int:
    """Run the ``lmstream`` command line with ``argv`` (default: ``sys.argv[1:]``); return the exit code."""
    words = list(sys.argv[1:] if argv is None else argv)
    system = get_plugin_system()
    parser = build_parser(system)
    missing = built_ins_missing(system)
    name = requested_command(words)
    if missing is not None and name in BUILT_IN_COMMANDS and name not in system.commands:
        _error(f"{name!r} is a built-in command and is unavailable: {missing}")
        return USAGE
    try:
        args = parser.parse_args(words)
    except SystemExit as exit_:  # argparse: --help (0) or bad arguments (2)
        return _exit_code(exit_.code)
    _configure_logging(args.verbose)
    command = getattr(args, SELECTED, None)
    if command is None:  # its configure raised (logged when the parser was built)
        _error(f"the command {args.command!r} is unavailable: its plugin failed to configure it")
        return USAGE
    try:
        code: int = command.run(args)
        return code
    except KeyboardInterrupt:
        _error("interrupted", prefix="lmstream: ")
        return INTERRUPTED
    except BrokenPipeError:  # e.g. `lmstream generate ... | head -1`
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return FAILED
    except (ModelLoadError, OSError) as exc:
        _report(args, exc, "could not load the model" if isinstance(exc, ModelLoadError) else None)
        return FAILED
    except USAGE_ERRORS as exc:
        _report(args, exc, None)
        return USAGE
    except Exception as exc:
        _report(args, exc, None)
        return FAILED


def _report(args: argparse.Namespace, exc: BaseException, context: str | None) -> None:
    if args.verbose >= 2:
        logging.getLogger("lmstream.cli").exception("%s failed", args.command)
    message = describe_error(exc)
    _error(f"{context}: {message}" if context else message)


def _error(message: str, *, prefix: str = "lmstream: error: ") -> None:
    """One line on stderr (the commands end their own output lines before they return or raise)."""
    sys.stderr.write(prefix + message + "\n")
    sys.stderr.flush()


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
