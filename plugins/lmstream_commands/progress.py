"""Progress on stderr, only when stderr is a terminal: a spinner while the model loads and a bar
for prefills that take longer than a second. Each clears its line when done.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from types import TracebackType

from .console import Console

CLEAR_LINE = "\r\x1b[2K"
FRAMES = "|/-\\"


class Spinner:
    """``with Spinner(console, "loading model"):`` shows the label, a spinner and elapsed seconds."""

    def __init__(self, console: Console, label: str, *, delay: float = 0.3, interval: float = 0.1) -> None:
        self.console = console
        self.label = label
        self.enabled = console.err_tty
        self.delay = delay
        self.interval = interval
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._drawn = False

    def __enter__(self) -> Spinner:
        if self.enabled:
            self._thread = threading.Thread(target=self._run, name="lmstream-spinner", daemon=True)
            self._thread.start()
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join()
        if self._drawn:
            with self.console.lock:
                self.console.err.write(CLEAR_LINE)
                self.console.err.flush()

    def _run(self) -> None:
        start = time.monotonic()
        if self._stop.wait(self.delay):
            return
        frame = 0
        while not self._stop.is_set():
            elapsed = time.monotonic() - start
            with self.console.lock:
                self.console.err.write(f"{CLEAR_LINE}{self.label} {FRAMES[frame % len(FRAMES)]} {elapsed:.1f} s")
                self.console.err.flush()
            self._drawn = True
            frame += 1
            self._stop.wait(self.interval)


class PrefillProgress:
    """The ``on_prefill_progress(done, total)`` callback: a bar once prefill has run ``delay`` s.

    Called from the model's worker thread; ``finish()`` (consumer side, at the first event)
    clears the bar. Disabled (a no-op) when stderr is not a terminal.
    """

    def __init__(self, console: Console, *, delay: float = 1.0, width: int = 30,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.console = console
        self.enabled = console.err_tty
        self.delay = delay
        self.width = width
        self.clock = clock
        self.start = clock()
        self.drawn = False

    def __call__(self, done: int, total: int) -> None:
        """Draw the bar (after ``delay`` seconds of prefill); clear it when prefill is done."""
        if not self.enabled:
            return
        if done >= total:
            self.finish()
            return
        if self.clock() - self.start < self.delay:
            return
        filled = self.width * done // total if total > 0 else 0
        bar = "#" * filled + "-" * (self.width - filled)
        with self.console.lock:
            self.console.err.write(f"{CLEAR_LINE}prefill [{bar}] {done}/{total} tokens")
            self.console.err.flush()
        self.drawn = True

    def finish(self) -> None:
        """Clear the bar if one was drawn."""
        if self.drawn:
            with self.console.lock:
                self.console.err.write(CLEAR_LINE)
                self.console.err.flush()
            self.drawn = False
