"""How many threads numpy's BLAS uses for the backend's CPU products, and whether a model call
is a prefill (whose logits nobody reads).

Setting OpenBLAS's thread count through threadpoolctl costs ~40 us, too much per product of a
decode step (~60 of them), so a generation sets it once around each model call
(``model_call``); a product made outside such a call (a model used directly) sets it around
itself (``limited``). Both restore the previous count on exit.
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Iterator
from typing import Any

_local = threading.local()
_pools: list[Any] = []


def _pool() -> Any:
    if not _pools:
        try:
            from threadpoolctl import ThreadpoolController
        except ImportError:
            _pools.append(None)
        else:
            _pools.append(ThreadpoolController().select(user_api="blas"))
    return _pools[0]


@contextlib.contextmanager
def blas_thread_limit(threads: int) -> Iterator[None]:
    """Limit numpy's BLAS to ``threads`` threads inside the block (no-op without threadpoolctl)."""
    pool = _pool()
    if pool is None:
        yield
        return
    with pool.limit(limits=threads):
        yield


@contextlib.contextmanager
def limited(threads: int) -> Iterator[None]:
    """``blas_thread_limit`` unless a ``model_call`` on this thread already set the count."""
    if getattr(_local, "scoped", False):
        yield
        return
    with blas_thread_limit(threads):
        yield


@contextlib.contextmanager
def model_call(threads: int | None, prefill: bool = False, batched: bool = False) -> Iterator[None]:
    """Around one model call: BLAS limited to ``threads`` (None: left alone, products limit
    themselves), ``prefilling()`` true when ``prefill`` (the logits will not be read) and
    ``batched_call()`` when ``batched`` (it serves several sequences: a shared prefill call)."""
    outer = (getattr(_local, "scoped", False), getattr(_local, "prefill", False),
             getattr(_local, "batched", False))
    _local.prefill, _local.batched = prefill, batched
    try:
        if threads is None:
            yield
            return
        with blas_thread_limit(threads):
            _local.scoped = True
            yield
    finally:
        _local.scoped, _local.prefill, _local.batched = outer


def prefilling() -> bool:
    """Whether this thread is inside a prefill model call (output-head products can stay lazy)."""
    return bool(getattr(_local, "prefill", False))


def batched_call() -> bool:
    """Whether this thread is inside a model call serving several sequences' prompts at once."""
    return bool(getattr(_local, "batched", False))
