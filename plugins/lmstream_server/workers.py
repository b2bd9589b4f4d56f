"""A bounded, admission-controlled thread pool for request-sized CPU work.

Parsing and validating large bodies, schema checks, template rendering and tokenizing must
never run on the event loop: one 100k-property schema would freeze every other client's
stream. ``WorkPool.run`` sends such work to a small pool of threads; when more calls are
waiting than the pool admits, the request gets a 503 with ``Retry-After`` instead of queueing
without bound. The GIL still switches every few milliseconds, so the loop keeps serving.
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import functools
from collections.abc import AsyncIterator, Callable
from concurrent.futures import ThreadPoolExecutor
from typing import ParamSpec, TypeVar

from .errors import APIError

P = ParamSpec("P")
T = TypeVar("T")


class WorkPool:
    """``threads`` workers; at most ``max_pending`` calls admitted (running or waiting)."""

    def __init__(self, threads: int = 2, max_pending: int = 64, retry_after_s: int = 1) -> None:
        if threads < 1 or max_pending < threads:
            raise ValueError("WorkPool needs threads >= 1 and max_pending >= threads")
        self.threads = threads
        self.max_pending = max_pending
        self.retry_after_s = retry_after_s
        self.pending = 0
        self._executor = ThreadPoolExecutor(threads, thread_name_prefix="lmstream-request-work")
        self._turns: asyncio.Semaphore | None = None

    def _admit(self) -> None:
        if self.pending >= self.max_pending:
            raise APIError(503, f"the server is busy preparing {self.pending} requests; retry shortly",
                           code="server_overloaded", type="server_error",
                           headers={"Retry-After": str(self.retry_after_s)})
        self.pending += 1

    @contextlib.asynccontextmanager
    async def admitted(self) -> AsyncIterator[None]:
        """Hold one of the pool's turns for a whole request (``/tokenize``, ``count_tokens``...).

        Counts against ``max_pending`` (503 beyond it) and lets at most ``threads`` such requests
        run at once, whatever threads their own work uses; the others wait their turn.
        """
        self._admit()
        try:
            if self._turns is None:
                self._turns = asyncio.Semaphore(self.threads)
            async with self._turns:
                yield
        finally:
            self.pending -= 1

    async def run(self, fn: Callable[P, T], *args: P.args, **kwargs: P.kwargs) -> T:
        """``fn(*args, **kwargs)`` on a pool thread; 503 when the pool is full."""
        self._admit()
        try:
            call = functools.partial(contextvars.copy_context().run, fn, *args, **kwargs)
            return await asyncio.get_running_loop().run_in_executor(self._executor, call)
        finally:
            self.pending -= 1

    def close(self) -> None:
        """Stop the threads once their current work is done (the server is shutting down)."""
        self._executor.shutdown(wait=False, cancel_futures=True)
