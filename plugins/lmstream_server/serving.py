"""What ``lmstream serve`` and ``lmstream serve --ray`` share: load options from the flags, the
API key, the Host check, logging, and serving an app with the guarded uvicorn settings.

Both launchers (``command.run`` in process, ``ray.launch.run`` on Ray Serve replicas) build
their app from the same flags and serve it through ``serve_app``: the connection timeouts,
the connection limit and the drain of ``connections.server_config``, and the socket bound
before the banner. Neither launcher imports the other's module for these (no import cycle).
"""

from __future__ import annotations

import argparse
import gc
import logging
import os
import sys
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .connections import ConnectionLimits

API_KEY_ENV = "LMSTREAM_API_KEY"


def load_options(args: argparse.Namespace) -> dict[str, Any]:
    """Backend load options from ``-o``, ``--tool-parser``, ``--template``, ``--max-batch-size``,
    ``--prefix-cache-bytes``, ``--prefix-cache-checkpoint-tokens`` and ``--draft`` (``drafter=NAME``)."""
    options: dict[str, Any] = {}
    for key, value in args.options:
        if key in options:
            raise ValueError(f"--option {key} given more than once")
        options[key] = value
    for flag, key in (("tool_parser", "tool_parser"), ("template", "chat_template"),
                      ("prefix_cache_bytes", "prefix_cache_bytes"), ("draft", "drafter"),
                      ("prefix_cache_checkpoint_tokens", "prefix_cache_checkpoint_tokens")):
        value = getattr(args, flag, None)
        if value is not None:
            if key in options:
                raise ValueError(f"give {key} with --{flag.replace('_', '-')} or --option, not both")
            options[key] = value
    if args.max_batch_size is not None:
        options["max_batch_size"] = args.max_batch_size  # the core's continuous batching
    return options


def api_key_of(args: argparse.Namespace) -> str | None:
    """``--api-key``, else ``$LMSTREAM_API_KEY``; empty (either way) means no key."""
    key = args.api_key if args.api_key is not None else os.environ.get(API_KEY_ENV)
    return key or None


def allowed_hosts(bind: str, extra: list[str], no_check: bool) -> list[str] | None:
    """The Host names answered besides loopback ones; None turns the Host check off.

    On by default when bound to loopback (DNS rebinding), or whenever ``--allowed-host`` is
    given; off with ``--no-host-check`` or when bound to a public address with no list.
    """
    from .guard import is_loopback_bind

    if no_check:
        return None
    if extra or is_loopback_bind(bind):
        return list(extra)
    return None


def app_options(args: argparse.Namespace) -> dict[str, Any]:
    """The ``create_app`` options every launcher takes from the flags (key, limits, safety)."""
    return {"api_key": api_key_of(args), "max_body_bytes": args.max_body_bytes,
            "default_max_tokens": args.default_max_tokens, "cors_origins": args.cors_origin,
            "write_timeout_s": args.write_timeout,
            "allowed_hosts": allowed_hosts(args.host, args.allowed_host, args.no_host_check),
            "check_origin": not args.no_host_check}


def check_backend(backend: str | None) -> None:
    """Fail early, with the install command, when the named backend's extra is not installed."""
    if backend is None:
        return
    from lmstream.plugin import missing_dependencies

    missing = missing_dependencies(backend)
    if missing is not None:
        raise ValueError(missing)


def configure_logging(level: str) -> None:
    """One stderr handler for the server's loggers (errors, and the access log at info)."""
    server_logger = logging.getLogger("lmstream.server")
    server_logger.setLevel(level.upper())
    if not server_logger.handlers:
        handler = logging.StreamHandler(sys.stderr)
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(message)s"))
        server_logger.addHandler(handler)
        server_logger.propagate = False


def connection_limits(args: argparse.Namespace) -> ConnectionLimits:
    """The connection timeouts and limit of the flags (checked before a model loads)."""
    from .connections import ConnectionLimits

    return ConnectionLimits(header_s=args.header_timeout, body_s=args.body_timeout, write_s=args.write_timeout,
                            keep_alive_s=args.keep_alive_timeout, max_connections=args.max_connections)


def serve_app(app: Any, args: argparse.Namespace, limits: ConnectionLimits, banner: str, name: str) -> None:
    """Serve ``app`` until Ctrl-C / SIGTERM with ``limits`` (connection guard) and the flags'
    drain; the socket listens before ``banner: 'name' on http://host:port`` is printed."""
    import uvicorn

    from .connections import server_config

    configure_logging(args.log_level)
    config = server_config(app, host=args.host, port=args.port, log_level=args.log_level,
                           drain_timeout_s=args.drain_timeout, limits=limits)
    server = uvicorn.Server(config)
    sock = config.bind_socket()
    sock.listen(config.backlog)  # connections wait in the backlog from the banner on, not refused
    host, port = sock.getsockname()[:2]
    shown = f"[{host}]" if ":" in host else host
    print(f"{banner}: {name!r} on http://{shown}:{port} (Ctrl-C to stop)", file=sys.stderr, flush=True)
    freeze_start_up_heap()
    server.run(sockets=[sock])


def freeze_start_up_heap() -> None:
    """Collect once, then move every object the start-up made (models, tokenizers, templates,
    the app) to the garbage collector's permanent generation. Each full collection walks every
    tracked object and holds the GIL meanwhile: the default model's server starts with ~67,000
    of them, 26-30 ms a full collection, and a request that allocates much (a hostile 3 MB
    JSON schema) starts several, each pausing every stream and the event loop. Frozen, a full
    collection walks only what requests made since (docs/server.md)."""
    gc.collect()
    gc.freeze()


__all__ = ["API_KEY_ENV", "allowed_hosts", "api_key_of", "app_options", "check_backend",
           "configure_logging", "connection_limits", "freeze_start_up_heap", "load_options", "serve_app"]
