"""Streams and task handles: the consumer side, sync or asyncio, of one generation.

The producer (on the context's worker thread) pushes batches of events into an ``EventChannel``; the
consumer drains whole batches, so a wake-up is paid per batch, not per token. Leaving a
stream early (break, exception, garbage collection, ``with``/``async with`` exit) cancels it.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import AsyncIterator, Callable, Iterator
from types import TracebackType
from typing import Any, Generic, TypeVar

from ._events import Info, StopReason

E = TypeVar("E")


class EventChannel:
    """Producer -> consumer handoff of one generation, plus its cancel flag and final Info.

    A bounded queue of events; not to be confused with ``Channel``, the content/reasoning
    literal a ``Chunk`` carries."""

    __slots__ = ("_async_waiter", "_cond", "_done_callbacks", "_events", "_lock", "_waiting",
                 "cancel_event", "cancelled", "done_event", "info", "limit", "paused", "wake")

    def __init__(self, limit: int = 0, wake: Callable[[], None] | None = None) -> None:
        self._events: list[Any] = []
        self._lock = threading.Lock()
        """The condition's lock, taken directly on the per-token path (no Python-level enter)."""
        self._cond = threading.Condition(self._lock)
        self._waiting = False
        self._async_waiter: tuple[asyncio.AbstractEventLoop, asyncio.Future[None]] | None = None
        self._done_callbacks: list[Callable[[], None]] = []
        self.cancel_event = threading.Event()
        """Set on cancel; what a backend waits on (``GenerationControl``)."""
        self.cancelled = False
        """True once cancelled: ``cancel_event``'s state as a plain attribute, for the
        scheduler's per-token checks (set first, by ``cancel`` only)."""
        self.done_event = threading.Event()
        self.info: Info | None = None
        self.limit = limit
        """Unread events at which the producer pauses this stream (0: unbounded)."""
        self.paused = False
        """True while the unread events reached ``limit``: set by ``push`` and cleared by the
        read that empties the buffer, both under the lock, so that read always wakes the
        producer. The scheduler skips a paused stream."""
        self.wake = wake
        """Called (from any thread) when a paused stream was read or a stream was cancelled."""

    @property
    def full(self) -> bool:
        """True when the unread events reached the limit (the producer should pause).

        Marks the stream paused in the same lock the consumer takes events under, so a read
        that empties the buffer always wakes the producer.
        """
        if not 0 < self.limit <= len(self._events):
            return False
        with self._cond:
            self.paused = 0 < self.limit <= len(self._events)
            return self.paused

    def cancel(self, *, wake_producer: bool = True) -> None:
        """Ask the producer to stop at the next token boundary (wakes a waiting producer)."""
        if self.cancelled:
            return
        self.cancelled = True
        self.cancel_event.set()
        if wake_producer:
            self._wake_producer()

    def _wake_producer(self) -> None:
        wake = self.wake
        if wake is not None and not self.done_event.is_set():
            try:
                wake()
            except Exception:  # the context is closed or the interpreter is shutting down
                pass

    # -- producer side ------------------------------------------------------------------
    def push(self, events: list[Any]) -> None:
        """Append events; wake the consumer only if it waits, once per wait.

        The producer clears ``_waiting`` as it notifies: until the woken consumer runs (it
        needs the GIL, which this thread holds for up to the switch interval), later pushes
        only append, instead of calling ``Condition.notify`` for every token.
        """
        with self._lock:
            buffered = self._events
            buffered += events
            if self._waiting:
                self._waiting = False
                self._cond.notify()
            if self._async_waiter is not None:
                self._wake_async()
            if 0 < self.limit <= len(buffered):
                self.paused = True

    def finish(self, info: Info) -> None:
        """Push the final Info and mark the generation done (exactly once)."""
        with self._cond:
            self.info = info
            self._events.append(info)
            self.done_event.set()
            if self._waiting:
                self._waiting = False
                self._cond.notify()
            if self._async_waiter is not None:
                self._wake_async()
            callbacks, self._done_callbacks = self._done_callbacks, []
        for callback in callbacks:
            callback()

    def _wake_async(self) -> None:
        assert self._async_waiter is not None
        loop, future = self._async_waiter
        self._async_waiter = None
        try:
            loop.call_soon_threadsafe(_resolve, future)
        except RuntimeError:  # the consumer's loop is closed: nobody to wake
            pass

    # -- consumer side ------------------------------------------------------------------
    def take(self) -> list[Any]:
        """Block until events are available; an empty list means the stream is over."""
        with self._cond:
            while not self._events:
                if self.done_event.is_set():
                    return []
                self._waiting = True  # the producer clears it when it notifies
                self._cond.wait()
            self._waiting = False
            events, self._events = self._events, []
            was_paused, self.paused = self.paused, False
        if was_paused:
            self._wake_producer()
        return events

    def take_or_wait(self, loop: asyncio.AbstractEventLoop) -> list[Any] | asyncio.Future[None]:
        """Events if available (empty list: over), else a future resolved on the next push."""
        with self._cond:
            if self._events:
                events, self._events = self._events, []
                was_paused, self.paused = self.paused, False
            elif self.done_event.is_set():
                return []
            else:
                future: asyncio.Future[None] = loop.create_future()
                self._async_waiter = (loop, future)
                return future
        if was_paused:
            self._wake_producer()
        return events

    def add_done_callback(self, callback: Callable[[], None]) -> None:
        """Call ``callback`` (from the producer thread) when done; at once if already done."""
        with self._cond:
            if not self.done_event.is_set():
                self._done_callbacks.append(callback)
                return
        callback()


def _resolve(future: asyncio.Future[None]) -> None:
    if not future.done():
        future.set_result(None)


_NO_EVENTS: Iterator[Any] = iter(())


class _CursorBase:
    """Shared state of the sync and async cursors: the rest of the batch being read.

    Classes, not generators: a cursor stays usable after an exception raised while it waits
    (Ctrl-C during ``take``, a cancelled task), so the caller can read on to the Info.
    """

    __slots__ = ("_rest", "_stream")

    def __init__(self, stream: EventStream[Any]) -> None:
        self._stream = stream
        self._rest = _NO_EVENTS
        """An iterator over the unread part of the current batch (C speed per event)."""

    def _start_batch(self, batch: list[Any]) -> Any:
        """Begin reading a fresh batch and return its first event; ``_END`` when it is empty."""
        stream = self._stream
        if not batch:
            stream._ended = True
            return _END
        rest = self._rest = iter(batch)
        event = next(rest)
        if len(batch) == 1 and type(event) is Info:
            stream._ended = True
        return event

    def __del__(self) -> None:
        self._stream._left_early()


_END = object()


class _Cursor(_CursorBase):
    """A sync iterator over a stream; dropping it before the end (``break``) cancels."""

    __slots__ = ()

    def __iter__(self) -> _Cursor:
        return self

    def __next__(self) -> Any:
        for event in self._rest:  # the buffered case: one step of a list iterator
            return event
        if self._stream._ended:
            raise StopIteration
        event = self._start_batch(self._stream._channel.take())
        if event is _END:
            raise StopIteration
        return event


class _AsyncCursor(_CursorBase):
    """An async iterator over a stream; dropping it before the end cancels."""

    __slots__ = ()

    def __aiter__(self) -> _AsyncCursor:
        return self

    async def __anext__(self) -> Any:
        for event in self._rest:  # the buffered case: one step of a list iterator
            return event
        stream = self._stream
        if stream._ended:
            raise StopAsyncIteration
        loop = asyncio.get_running_loop()
        while True:
            got = stream._channel.take_or_wait(loop)
            if isinstance(got, list):
                break
            try:
                await got
            except asyncio.CancelledError:
                stream.cancel()
                raise
        event = self._start_batch(got)
        if event is _END:
            raise StopAsyncIteration
        return event


class EventStream(Generic[E]):
    """The events of one generation, for ``for`` and ``async for``; ends with exactly one Info.

    Iterating never raises: a failure ends the stream with ``Info(stop_reason="error")``.
    """

    def __init__(self, channel: EventChannel) -> None:
        self._channel = channel
        self._ended = False
        self._cursor: _Cursor | None = None

    # -- iteration ----------------------------------------------------------------------
    def __iter__(self) -> Iterator[E]:
        return _Cursor(self)

    def __next__(self) -> E:
        if self._cursor is None:
            self._cursor = _Cursor(self)
        event: E = next(self._cursor)
        return event

    def __aiter__(self) -> AsyncIterator[E]:
        return _AsyncCursor(self)

    async def __anext__(self) -> E:
        raise TypeError("use `async for event in stream`; streams are not awaitable one by one")

    # -- control ------------------------------------------------------------------------
    def cancel(self) -> None:
        """Ask the producer to stop at the next token boundary; the stream still ends with Info."""
        self._channel.cancel()

    def close(self) -> None:
        """Cancel unless finished (what leaving the stream early does)."""
        if not self._channel.done_event.is_set():
            self.cancel()

    @property
    def info(self) -> Info | None:
        """The final Info once the producer finished, else None."""
        return self._channel.info

    def _left_early(self) -> None:
        """A cursor was dropped: cancel unless the stream was read to its end."""
        try:
            if not self._ended and not self._channel.done_event.is_set():
                self._channel.cancel()
        except Exception:  # interpreter shutdown
            pass

    def __del__(self) -> None:
        try:
            if not self._channel.done_event.is_set():
                self._channel.cancel()
        except Exception:
            pass

    def __enter__(self) -> EventStream[E]:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.close()

    async def __aenter__(self) -> EventStream[E]:
        return self

    async def __aexit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                        tb: TracebackType | None) -> None:
        self.close()


class GenerationTask:
    """A handle on a running generation: ``cancel()``, ``done()``, ``wait()``, ``await task``.

    ``wait`` and ``await`` return the final Info, or raise the backend's exception when the
    generation failed (``stop_reason == "error"``).
    """

    def __init__(self, channel: EventChannel) -> None:
        self._channel = channel

    def cancel(self) -> None:
        """Stop the generation at the next token boundary (or before it starts)."""
        self._channel.cancel()

    def cancelled(self) -> bool:
        """True if cancel was requested."""
        return self._channel.cancel_event.is_set()

    def done(self) -> bool:
        """True once the producer has finished and the final Info exists."""
        return self._channel.done_event.is_set()

    @property
    def info(self) -> Info | None:
        """The final Info, or None while running."""
        return self._channel.info

    def wait(self, timeout: float | None = None) -> Info:
        """Block until done and return the final Info; TimeoutError after ``timeout`` seconds."""
        if not self._channel.done_event.wait(timeout):
            raise TimeoutError(f"generation not finished after {timeout} s")
        return self._result()

    def _result(self) -> Info:
        info = self._channel.info
        assert info is not None
        if info.stop_reason is StopReason.ERROR and info.error is not None:
            raise info.error
        return info

    async def _wait_async(self) -> Info:
        if not self._channel.done_event.is_set():
            loop = asyncio.get_running_loop()
            future: asyncio.Future[None] = loop.create_future()

            def wake() -> None:
                try:
                    loop.call_soon_threadsafe(_resolve, future)
                except RuntimeError:
                    pass

            self._channel.add_done_callback(wake)
            await future
        return self._result()

    def __await__(self) -> Any:
        return self._wait_async().__await__()
