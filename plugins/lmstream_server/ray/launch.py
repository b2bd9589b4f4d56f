"""Starting the replicas on Ray Serve, and ``lmstream serve --ray``.

``deploy`` runs the ``LMReplica`` deployment (fixed ``replicas`` or ``autoscale=(min, max)``)
with the prefix-aware router on the connected Ray instance and returns its handle. The HTTP
ingress runs in the calling process: the same ``create_app`` and the same guarded server
(``serving.serve_app``: connection timeouts and limit, Host / Origin checks, drain) as
``lmstream serve``, bound to ``--host`` (127.0.0.1 by default); Ray Serve's own HTTP proxy is
not started.
"""

from __future__ import annotations

import argparse
import os
import sys
from typing import Any

from .replica import LMReplica, LoadSpec

APP_NAME = "lmstream"
DEPLOYMENT_NAME = "LMReplica"
ROUTER = "lmstream_server.ray.routing.PrefixRouter"
"""The request router of the replicas (imported by Ray where handles route)."""


def parse_autoscale(value: str) -> tuple[int, int]:
    """``MIN:MAX`` (1 <= MIN <= MAX) for ``--autoscale``."""
    low, sep, high = value.partition(":")
    try:
        bounds = (int(low), int(high)) if sep else (-1, -1)
    except ValueError:
        bounds = (-1, -1)
    if not 1 <= bounds[0] <= bounds[1]:
        raise argparse.ArgumentTypeError(f"--autoscale wants MIN:MAX with 1 <= MIN <= MAX, not {value!r}")
    return bounds


def replica_deployment(spec: LoadSpec, *, replicas: int = 1, autoscale: tuple[int, int] | None = None,
                       max_ongoing_requests: int = 72, num_cpus: float = 1.0,
                       router_options: dict[str, Any] | None = None) -> Any:
    """The bound Serve application of ``LMReplica`` replicas loading ``spec``."""
    from ray import serve
    from ray.serve.config import RequestRouterConfig

    if replicas < 1:
        raise ValueError("replicas must be at least 1")
    options: dict[str, Any] = {
        "name": DEPLOYMENT_NAME,
        "max_ongoing_requests": max_ongoing_requests,
        "ray_actor_options": {"num_cpus": num_cpus},
        "request_router_config": RequestRouterConfig(request_router_class=ROUTER,  # type: ignore[arg-type]
                                                     request_router_kwargs=dict(router_options or {})),
        "health_check_period_s": 2,
    }
    if autoscale is not None:
        low, high = autoscale
        options["autoscaling_config"] = {"min_replicas": low, "max_replicas": high, "initial_replicas": low,
                                         "target_ongoing_requests": max(1, max_ongoing_requests // 2)}
    else:
        options["num_replicas"] = replicas
    return serve.deployment(**options)(LMReplica).bind(spec)


def deploy(spec: LoadSpec, *, app_name: str = APP_NAME, **deployment_options: Any) -> Any:
    """Run the replicas as Serve app ``app_name`` on the connected Ray instance (no Serve HTTP
    proxy); their DeploymentHandle. ``deployment_options`` go to ``replica_deployment``."""
    from ray import serve

    serve.start(proxy_location="Disabled")
    return serve.run(replica_deployment(spec, **deployment_options), name=app_name, route_prefix=None)


def run(args: argparse.Namespace) -> int:
    """``lmstream serve --ray``: replicas on Ray, the HTTP ingress here, until Ctrl-C / SIGTERM."""
    try:
        import ray
        import uvicorn  # noqa: F401  (serve_app's server)
        from ray import serve
    except ImportError:
        print("lmstream serve --ray needs the ray extra: pip install 'lmstream[ray]'", file=sys.stderr)
        return 1
    import lmstream

    from ..app import create_app
    from ..serving import app_options, connection_limits, load_options, serve_app
    from .source import RaySource

    options = load_options(args)
    limits = connection_limits(args)
    batch = args.max_batch_size or 8
    replicas = args.replicas or 1
    top = args.autoscale[1] if args.autoscale else replicas
    if args.ray_address:
        ray.init(address=args.ray_address)
    else:
        # a local instance on the loopback interface, with a CPU slot for every replica
        ray.init(include_dashboard=False, _node_ip_address="127.0.0.1", num_cpus=max(os.cpu_count() or 1, top))
    try:
        print(f"lmstream serve --ray: starting {args.autoscale or replicas} replica(s) ...", file=sys.stderr,
              flush=True)
        spec = LoadSpec(args.model, args.backend, options)
        handle = deploy(spec, replicas=replicas, autoscale=args.autoscale,
                        max_ongoing_requests=batch + args.max_queue)
        context = lmstream.load(args.model, args.backend, **options)  # prepares prompts, counts tokens
        name = args.served_model_name or context.info.name
        app = create_app({name: context}, max_batch_size=batch * top, max_queue=args.max_queue * top,
                         sources={name: RaySource(handle)}, **app_options(args))
        try:
            serve_app(app, args, limits, "lmstream serve --ray", name)
        finally:
            context.close()
    finally:
        serve.shutdown()  # type: ignore[no-untyped-call]
        ray.shutdown()
    return 0
