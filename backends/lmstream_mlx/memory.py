"""mlx memory counters (active, peak, cache) with the ``mx.metal.*`` fallbacks of older mlx."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import mlx.core as mx
from mlx.utils import tree_reduce


def _counter(name: str) -> Callable[..., Any]:
    """``mx.<name>`` on current mlx, ``mx.metal.<name>`` on older releases."""
    fn = getattr(mx, name, None)
    if fn is None:
        fn = getattr(mx.metal, name)
    return fn  # type: ignore[no-any-return]


def active_bytes() -> int:
    """Bytes of memory mlx arrays hold right now (all devices of this process)."""
    return int(_counter("get_active_memory")())


def peak_bytes() -> int:
    """Highest ``active_bytes`` since the last ``reset_peak``."""
    return int(_counter("get_peak_memory")())


def reset_peak() -> None:
    """Start a new peak measurement."""
    _counter("reset_peak_memory")()


def clear_cache() -> None:
    """Return mlx's buffer cache to the system (memory no array uses any more)."""
    _counter("clear_cache")()


def tree_nbytes(tree: Any) -> int:
    """Bytes of every mlx array in a nested structure (model parameters, cache state)."""
    return int(tree_reduce(lambda acc, x: acc + x.nbytes if isinstance(x, mx.array) else acc, tree, 0))
