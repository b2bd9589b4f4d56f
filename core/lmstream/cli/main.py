"""``main(argv)``: parse, dispatch to a command, and map what happened to an exit code."""

from __future__ import annotations

import argparse
import importlib
import logging
import os
import sys
from collections.abc import Callable, Sequence

from ..errors import LmstreamError, ModelLoadError, TemplateError
from .console import Console, error_text
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
    """A one-paragraph message: our own errors as they are, validation errors field by field."""
    errors = getattr(exc, "errors", None)
    if type(exc).__name__ == "ValidationError" and callable(errors):
        title = getattr(exc, "title", "input")
        details = "; ".join(f"{'.'.join(str(part) for part in e.get('loc', ())) or 'value'}: {e.get('msg', '')}"
                            for e in errors())
        return f"invalid {title}: {details}"
    if isinstance(exc, UsageError | LmstreamError):
        return str(exc)
    return error_text(exc) or type(exc).__name__
