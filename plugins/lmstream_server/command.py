"""``lmstream serve``: load a model and serve it with uvicorn on 127.0.0.1 (by default).

Ctrl-C / SIGTERM: uvicorn stops accepting, lets in-flight streams finish for at most
``--drain-timeout`` seconds, then cancels them (their generations end ``cancelled``) and exits.
"""

from __future__ import annotations

import argparse
import importlib.util
import sys
from typing import Any

from .serving import (
    API_KEY_ENV,
    allowed_hosts,
    api_key_of,
    app_options,
    check_backend,
    configure_logging,
    connection_limits,
    load_options,
    serve_app,
)

__all__ = ["API_KEY_ENV", "allowed_hosts", "api_key_of", "check_backend", "configure", "configure_logging",
           "load", "load_options", "run"]


def configure(parser: argparse.ArgumentParser) -> None:
    """Add the serve arguments (no heavy imports here: this runs for every ``lmstream`` call)."""
    from lmstream.plugin import parse_option

    model = parser.add_argument_group("model")
    model.add_argument("--model", "-m", help="model path or name (default: the backend's embedded default model)")
    model.add_argument("--backend", "-b", help="backend name (default: auto, the fastest installed one here)")
    model.add_argument("--option", "-o", dest="options", action="append", type=parse_option, default=[],
                       metavar="KEY=VALUE", help="backend load option, repeatable (VALUE parsed as JSON if it is)")
    model.add_argument("--served-model-name", help="the name clients use in 'model' (default: the model's name)")
    model.add_argument("--tool-parser", help="tool-call parser name (default: resolved from the model)")
    model.add_argument("--template", help="chat template: a registered name, a template string or a file path")
    model.add_argument("--draft", metavar="NAME",
                       help="speculative decoding with this drafter (load(drafter=NAME), e.g. prompt_lookup or "
                            "draft_model with -o draft_model=PATH); outputs are the same, only faster")
    model.add_argument("--prefix-cache-bytes", type=int, metavar="N",
                       help="bytes of KV state kept to reuse prompt prefixes across requests (0: off; "
                            "default: 10%% of memory, at most 4 GiB; see docs/prefix-cache.md)")
    model.add_argument("--prefix-cache-checkpoint-tokens", type=int, metavar="N",
                       help="tokens between two prefix-cache checkpoints of caches that cannot trim (rotating, "
                            "quantized, hybrid/SSM; 0: end of prompt and answer only; default: 256)")
    net = parser.add_argument_group("server")
    net.add_argument("--host", default="127.0.0.1", help="address to bind (default: %(default)s, loopback only)")
    net.add_argument("--port", type=int, default=8080, help="port (default: %(default)s; 0 picks a free one)")
    net.add_argument("--api-key", help=f"require this key (Bearer / x-api-key); default: ${API_KEY_ENV} if set; "
                                       "an empty key means no key, as an empty variable does")
    net.add_argument("--max-batch-size", type=int, help="generations run at once (default: 8; passed to the "
                                                        "backend's scheduler when given)")
    net.add_argument("--max-queue", type=int, default=64,
                     help="generations waiting beyond the batch before 503 (default: %(default)s)")
    net.add_argument("--max-body-bytes", type=int, default=4 * 1024 * 1024,
                     help="largest request body accepted, else 413 (default: %(default)s)")
    net.add_argument("--default-max-tokens", type=int, default=512,
                     help="max_tokens of chat / responses requests that give none (default: %(default)s)")
    net.add_argument("--cors-origin", action="append", default=[], metavar="ORIGIN",
                     help="allow browser requests from ORIGIN, repeatable (default: CORS off)")
    net.add_argument("--drain-timeout", type=int, default=10,
                     help="seconds in-flight streams may finish after Ctrl-C / SIGTERM (default: %(default)s)")
    safety = parser.add_argument_group("connections and local-server safety (see docs/security.md)")
    safety.add_argument("--allowed-host", action="append", default=[], metavar="NAME",
                        help="also answer requests whose Host is NAME (default: loopback names only when "
                             "bound to loopback), repeatable")
    safety.add_argument("--no-host-check", action="store_true",
                        help="answer any Host and any browser Origin (behind a reverse proxy that checks them)")
    safety.add_argument("--header-timeout", type=float, default=10.0, metavar="S",
                        help="close a connection whose request headers take longer (default: %(default)s)")
    safety.add_argument("--body-timeout", type=float, default=30.0, metavar="S",
                        help="close a connection whose request body takes longer (default: %(default)s)")
    safety.add_argument("--write-timeout", type=float, default=30.0, metavar="S",
                        help="a client that reads nothing for this long is gone; its generation stops "
                             "(default: %(default)s)")
    safety.add_argument("--keep-alive-timeout", type=float, default=5.0, metavar="S",
                        help="close idle keep-alive connections after S seconds (default: %(default)s)")
    safety.add_argument("--max-connections", type=int, default=512, metavar="N",
                        help="open connections (and requests) at most; beyond, 503 (default: %(default)s)")
    scale = parser.add_argument_group("scale-out on Ray Serve (extra lmstream[ray]; see docs/scaling.md)")
    scale.add_argument("--ray", action="store_true", help="run the model in Ray Serve replicas behind this server")
    count = scale.add_mutually_exclusive_group()
    count.add_argument("--replicas", type=int, help="number of replicas (default: 1)")
    count.add_argument("--autoscale", metavar="MIN:MAX", type=_autoscale, help="autoscale between MIN and MAX replicas")
    scale.add_argument("--ray-address", metavar="ADDR", help="join this Ray cluster (default: start a local one)")
    net.add_argument("--log-level", default="info", choices=["critical", "error", "warning", "info", "debug"],
                     help="log level; info logs one line per request, warning silences them "
                          "(default: %(default)s)")


def _autoscale(value: str) -> tuple[int, int]:
    """``--autoscale MIN:MAX`` (parsed without importing Ray)."""
    from .ray.launch import parse_autoscale

    return parse_autoscale(value)


def run(args: argparse.Namespace) -> int:
    """Load the model, build the app and serve until Ctrl-C / SIGTERM."""
    if getattr(args, "ray", False):
        from .ray.launch import run as run_on_ray

        return run_on_ray(args)
    if getattr(args, "replicas", None) or getattr(args, "autoscale", None) or getattr(args, "ray_address", None):
        raise ValueError("--replicas, --autoscale and --ray-address need --ray")
    if importlib.util.find_spec("uvicorn") is None:
        print("lmstream serve needs the server extra: pip install 'lmstream[server]'", file=sys.stderr)
        return 1
    from .app import create_app

    if args.max_batch_size is not None and args.max_batch_size < 1:
        raise ValueError("--max-batch-size must be at least 1")
    limits = connection_limits(args)
    check_backend(args.backend)
    print(f"lmstream serve: loading {args.model or 'the default model'} ...", file=sys.stderr, flush=True)
    context = load(args.model, args.backend, **load_options(args))
    try:
        name = args.served_model_name or context.info.name
        app = create_app({name: context}, max_batch_size=args.max_batch_size or 8, max_queue=args.max_queue,
                         **app_options(args))
        serve_app(app, args, limits, "lmstream serve", name)
    finally:
        context.close()
    return 0


def load(model: str | None, backend: str | None, **options: Any) -> Any:
    """``lmstream.load`` (one seam: tests check what the flags hand the loader)."""
    import lmstream

    return lmstream.load(model, backend, **options)
