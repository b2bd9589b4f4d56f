"""Showing one stream: events to the console as they come; Ctrl-C cancels and still gets the Info."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Protocol

from lmstream import Info

from .console import Console, event_to_json
from .progress import PrefillProgress


class CancellableStream(Protocol):
    """What ``run_stream`` needs: events, ``cancel()``, and the final ``info`` once ended."""

    def __iter__(self) -> Iterator[object]: ...

    def cancel(self) -> None: ...

    @property
    def info(self) -> Info | None: ...


def run_stream(stream: CancellableStream, console: Console, *, progress: PrefillProgress | None = None,
               json_mode: bool = False) -> Info | None:
    """Show every event and return the final Info.

    On Ctrl-C the stream is cancelled and read to its end (the producer stops at the next
    token), so the Info returned says ``cancelled``; it is None only when the stream was left
    without one (a chat turn rolled back by the interrupt). A second Ctrl-C propagates.
    """
    info: Info | None = None
    cursor = iter(stream)  # kept alive across Ctrl-C: dropping it would leave the stream early
    try:
        for event in cursor:
            if progress is not None:
                progress.finish()
                progress = None
            if json_mode:
                console.json_line(event_to_json(event))
            elif not isinstance(event, Info):
                console.show(event)
            if isinstance(event, Info):
                info = event
    except KeyboardInterrupt:
        stream.cancel()
        for event in cursor:  # what is left, up to the Info; nothing more is shown
            if isinstance(event, Info):
                info = event
        info = info or stream.info
        if json_mode and info is not None:
            console.json_line(event_to_json(info))
    finally:
        if progress is not None:
            progress.finish()
        console.end_answer()
    return info or stream.info
