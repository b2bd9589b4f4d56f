"""The ``lmstream`` command line: a dispatcher over the commands plugins register, and the
public surface a command plugin uses.

Every command comes through ``lmstream_register_commands``: lmstream's own ``commands`` plugin
registers ``generate``, ``chat``, ``plugins`` and ``bench``, the ``server`` plugin ``serve``,
and a third-party plugin adds its own the same way (``lmstream.plugin.Command``).

``main(argv)`` returns the exit code: 0 ok, 1 failed (model load or generation; the error is
on stderr), 2 bad arguments or input, 130 after Ctrl-C with a clean cancel. A command's ``run``
returns one of ``OK``, ``FAILED``, ``USAGE``, ``INTERRUPTED``, or raises: ``UsageError`` (and
``ValueError``, ``LookupError``, ...) become 2 with the message on stderr, ``ModelLoadError``
and ``OSError`` 1, as for every command. The other names here are what a command shows about
this install: the default backend and the choice ``auto`` makes, the plugin-disabling
variable, missing optional dependencies.
"""

from __future__ import annotations

from ..api import DEFAULT_BACKEND, choose_backend
from ..hooks import DISABLE_ENV, missing_dependency_report
from .exitcodes import FAILED, INTERRUPTED, OK, USAGE, UsageError
from .main import describe_error, main
from .parser import BUILT_IN_COMMANDS, BUILT_IN_PLUGIN, build_parser

__all__ = [
    "BUILT_IN_COMMANDS",
    "BUILT_IN_PLUGIN",
    "DEFAULT_BACKEND",
    "DISABLE_ENV",
    "FAILED",
    "INTERRUPTED",
    "OK",
    "USAGE",
    "UsageError",
    "build_parser",
    "choose_backend",
    "describe_error",
    "main",
    "missing_dependency_report",
]
