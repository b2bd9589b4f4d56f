"""The server plugin: registers ``lmstream serve`` through ``lmstream_register_commands``."""

from __future__ import annotations

from collections.abc import Callable

import lmstream
from lmstream.plugin import Command


def _configure(parser: object) -> None:
    from .command import configure

    configure(parser)  # type: ignore[arg-type]


def _run(args: object) -> int:
    from .command import run

    return run(args)  # type: ignore[arg-type]


SERVE = Command(
    help="serve models over an OpenAI- and Anthropic-compatible HTTP API",
    description="Serve a model over HTTP: /v1/chat/completions, /v1/completions, /v1/responses, "
                "/v1/messages and more (see docs/server.md). Binds 127.0.0.1 unless --host says otherwise.",
    configure=_configure,
    run=_run,
)


@lmstream.hookimpl  # type: ignore[untyped-decorator]
def lmstream_register_commands(register: Callable[[str, Command], None]) -> None:
    register("serve", SERVE)
