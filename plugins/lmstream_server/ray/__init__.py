"""``lmstream_server.ray``: scale ``lmstream serve`` out on Ray Serve (extra ``lmstream[ray]``).

Replicas (a Ray Serve deployment, ``LMReplica``) each own a ``ModelContext`` and batch inside;
the ingress is the same ASGI app as ``lmstream serve`` (``create_app``) with a ``RaySource``
that sends each prepared request to a replica through a streaming ``DeploymentHandle``, so
lmstream's own events (chunks, tool-call deltas, Info with stats) cross the hop intact.
Routing is prefix-aware (``PrefixRouter``), falling back to the least-loaded replica.
Nothing here imports Ray until it is used. See docs/scaling.md.
"""

from __future__ import annotations

from typing import Any

__all__ = ["LMReplica", "PrefixRouter", "RaySource", "deploy", "prefix_keys", "replica_deployment"]

_WHERE = {"LMReplica": "replica", "PrefixRouter": "routing", "RaySource": "source", "deploy": "launch",
          "replica_deployment": "launch", "prefix_keys": "prefix"}


def __getattr__(name: str) -> Any:
    """Import the submodule holding ``name`` on first use (Ray is heavy and optional)."""
    module = _WHERE.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    import importlib

    return getattr(importlib.import_module(f"{__name__}.{module}"), name)
