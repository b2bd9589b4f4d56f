"""The worker thread a model context owns: all backend compute runs there, in order.

Threads come from a process-wide pool and go back to it when their context closes: a thread
that did mlx work must never exit (mlx's per-thread C++ state aborts the process with
``std::terminate`` when such a thread ends, measured even on an explicit close while Python is
fully alive), so an idle thread parks in the pool and the next context takes it. 200
``load()``/``close()`` cycles reuse one thread instead of leaking 200.
"""

from __future__ import annotations

import logging
import queue
import threading
from collections.abc import Callable
from concurrent.futures import Future
from typing import Any, Protocol, TypeVar

logger = logging.getLogger("lmstream.worker")
T = TypeVar("T")
_STOP = object()


class Pump(Protocol):
    """Background work a worker interleaves with its jobs (the context's scheduler)."""

    def busy(self) -> bool:
        """True while there is work to do without waiting for a job."""

    def run_once(self) -> None:
        """Do one bounded slice of work (one prefill chunk and/or one decode step)."""

    def has_work(self) -> bool:
        """True while any generation is admitted or queued, runnable or not."""

    def cancel_blocked(self) -> None:
        """Cancel generations that cannot progress (unread streams) so a close can finish."""


class _PooledThread:
    """A daemon thread that serves one worker at a time and parks in the pool in between."""

    def __init__(self) -> None:
        self.assignments: queue.SimpleQueue[Worker] = queue.SimpleQueue()
        self.thread = threading.Thread(target=self._main, name="lmstream-worker", daemon=True)
        self.thread.start()

    def _main(self) -> None:
        while True:
            worker = self.assignments.get()
            self.thread.name = worker.name
            try:
                worker._serve()
            except BaseException:  # never let the thread die (see the module docstring)
                logger.exception("lmstream worker loop failed")
            finally:
                worker._stopped.set()
            del worker
            self.thread.name = "lmstream-worker (idle)"
            _release(self)


_idle: list[_PooledThread] = []
_pool_lock = threading.Lock()


def _acquire() -> _PooledThread:
    with _pool_lock:
        if _idle:
            return _idle.pop()
    return _PooledThread()


def _release(thread: _PooledThread) -> None:
    with _pool_lock:
        _idle.append(thread)


def idle_thread_count() -> int:
    """Pooled threads waiting for a context (for tests and diagnostics)."""
    with _pool_lock:
        return len(_idle)


class Worker:
    """Runs submitted jobs in order on one pooled thread, interleaved with its pump's work.

    While the pump is busy (generations prefilling or decoding), queued jobs run between its
    slices; otherwise the thread blocks on the job queue.
    """

    def __init__(self, name: str = "lmstream-worker") -> None:
        self.name = name
        self._jobs: queue.SimpleQueue[Any] = queue.SimpleQueue()
        self._closed = False
        self._stopped = threading.Event()
        self._pump: Pump | None = None
        self._on_stop: Callable[[], None] | None = None
        self._pooled = _acquire()
        self._thread = self._pooled.thread
        self._pooled.assignments.put(self)

    def set_pump(self, pump: Pump) -> None:
        """Interleave ``pump``'s work with the jobs (set once, before generations start)."""
        self._pump = pump

    def _serve(self) -> None:
        jobs = self._jobs
        stopping = False
        while True:
            pump = self._pump
            if pump is not None and pump.busy():
                if jobs.empty():  # only this thread takes jobs: no race, no exception per step
                    pump.run_once()
                    continue
                job = jobs.get()
            elif stopping:
                if pump is not None and pump.has_work():
                    pump.cancel_blocked()
                    continue
                break
            else:
                job = jobs.get()
            if job is _STOP:
                stopping = True
                continue
            try:
                job()
            except BaseException:  # a job must handle its own errors; never kill the worker
                logger.exception("lmstream worker job failed")
            del job
        if self._on_stop is not None:
            try:
                self._on_stop()
            except BaseException:
                logger.exception("releasing the model failed")
        self._pump = None
        self._on_stop = None

    def wake(self) -> None:
        """Make a blocked worker look at its pump again (a paused stream was read, a cancel)."""
        if not self._stopped.is_set():
            self._jobs.put(_noop)

    def has_jobs(self) -> bool:
        """True while a job waits (the pump's prefill chunks stop part-way for it)."""
        return not self._jobs.empty()

    def wait_stopped(self, timeout: float | None = None) -> bool:
        """Wait until the worker has finished its last job after ``close``; True once stopped."""
        return self._stopped.wait(timeout)

    @property
    def is_current(self) -> bool:
        """True when called from the worker thread itself."""
        return threading.current_thread() is self._thread and not self._stopped.is_set()

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

    def close(self, timeout: float | None = 10.0, on_stop: Callable[[], None] | None = None) -> None:
        """Finish queued jobs and running generations, run ``on_stop``, then give the thread back."""
        if self._closed:
            return
        self._closed = True
        self._on_stop = on_stop
        self._jobs.put(_STOP)
        if threading.current_thread() is not self._thread:
            self._stopped.wait(timeout)


def _noop() -> None:
    """A wake-up job."""
