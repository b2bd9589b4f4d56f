"""The worker thread a model context owns: all backend compute runs there, in order."""

from __future__ import annotations

import logging
import queue
import threading
from collections.abc import Callable
from concurrent.futures import Future
from typing import Any, TypeVar

logger = logging.getLogger("lmstream.worker")
T = TypeVar("T")
_STOP = object()


class Worker:
    """One daemon thread that runs submitted jobs in order (MLX streams are thread-local).

    A stopped worker's thread parks instead of exiting: mlx keeps per-thread state (compiled
    functions, random state, CPU stream threads) whose C++ destructors abort the process with
    ``std::terminate`` when the thread exits — measured even for an explicit close while Python
    is fully alive, not only during interpreter shutdown. The cost is one idle, parked thread
    per closed context. A parked (or
    never woken) daemon thread runs no destructors, so the process exits cleanly.
    """

    def __init__(self, name: str = "lmstream-worker") -> None:
        self._jobs: queue.SimpleQueue[Any] = queue.SimpleQueue()
        self._closed = False
        self._stopped = threading.Event()
        self._thread = threading.Thread(target=self._run, name=name, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while True:
            job = self._jobs.get()
            if job is _STOP:
                break
            try:
                job()
            except BaseException:  # a job must handle its own errors; never kill the worker
                logger.exception("lmstream worker job failed")
        del job
        self._stopped.set()
        threading.Event().wait()  # park for good (see the class docstring)

    def wait_stopped(self, timeout: float | None = None) -> bool:
        """Wait until the worker has finished its last job after ``close``; True once stopped."""
        return self._stopped.wait(timeout)

    @property
    def is_current(self) -> bool:
        """True when called from the worker thread itself."""
        return threading.current_thread() is self._thread

    def submit(self, job: Callable[[], None]) -> None:
        """Queue ``job``; it runs after the jobs queued before it."""
        if self._closed:
            raise RuntimeError("this model context is closed")
        self._jobs.put(job)

    def call(self, function: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        """Run ``function`` on the worker and return its result (inline when already there)."""
        if self.is_current:
            return function(*args, **kwargs)
        future: Future[T] = Future()

        def job() -> None:
            if not future.set_running_or_notify_cancel():
                return
            try:
                future.set_result(function(*args, **kwargs))
            except BaseException as exc:
                future.set_exception(exc)

        self.submit(job)
        return future.result()

    def close(self, timeout: float | None = 10.0) -> None:
        """Finish queued jobs, then stop the thread."""
        if self._closed:
            return
        self._closed = True
        self._jobs.put(_STOP)
        if not self.is_current:
            self._stopped.wait(timeout)
