"""Where output goes: the answer to stdout as it is produced, everything else to stderr.

Content is written and flushed chunk by chunk. Reasoning (thinking) text goes to stderr, dimmed
when stderr is a terminal, so stdout holds only the answer. ``--json`` writes every event as
one JSON line instead.
"""

from __future__ import annotations

import json
import threading
from typing import Any, TextIO

from lmstream import Chunk, GenerationStats, Info, RejectedToolCall, Token, ToolCall

LINE_BREAKS = {"\x85": "\\u0085", "\u2028": "\\u2028", "\u2029": "\\u2029"}
"""Characters ``str.splitlines`` breaks on that JSON leaves unescaped: escape them in JSON lines."""
DIM = "\x1b[2m"
UNDIM = "\x1b[22m"


def is_tty(stream: TextIO) -> bool:
    """Whether ``stream`` is an interactive terminal."""
    try:
        return stream.isatty()
    except (AttributeError, ValueError):
        return False


def error_text(error: BaseException | None) -> str | None:
    """``"TypeName: message"`` or None."""
    return None if error is None else f"{type(error).__name__}: {error}"


def json_line(value: object) -> str:
    """``value`` as one line of JSON (non-ASCII kept readable, every line break escaped)."""
    text = json.dumps(value, ensure_ascii=False, default=str)
    for char, escape in LINE_BREAKS.items():
        if char in text:
            text = text.replace(char, escape)
    return text


UNKNOWN_WHEN_ZERO = ("ttft_s", "prefill_tps", "decode_tps", "steady_decode_tps",
                     "itl_p50_s", "itl_p95_s", "itl_p99_s")
"""Figures a generation too short to measure leaves at 0 (the [STATS] block says n/a)."""


def stats_to_json(stats: GenerationStats) -> dict[str, Any]:
    """The stats as a dict in which unknown figures are None (JSON null), never a fake 0."""
    values = stats.to_dict()
    for name in UNKNOWN_WHEN_ZERO:
        if not values.get(name):
            values[name] = None
    return values


def event_to_json(event: object) -> dict[str, Any]:
    """One event as a JSON-ready dict: ``type`` plus its fields (Info: stats dict, error string)."""
    if isinstance(event, Chunk):
        return {"type": "chunk", "text": event.text, "tokens": list(event.tokens),
                "position": event.position, "channel": event.channel}
    if isinstance(event, ToolCall):
        return {"type": "tool_call", "id": event.id, "name": event.name, "arguments": event.arguments}
    if isinstance(event, RejectedToolCall):
        return {"type": "rejected_tool_call", "text": event.text, "reason": event.reason,
                "detail": event.detail}
    if isinstance(event, Info):
        return {"type": "info", "stop_reason": str(event.stop_reason), "error": error_text(event.error),
                "stats": stats_to_json(event.stats)}
    if isinstance(event, Token):
        return {"type": "token", "id": event.id, "position": event.position}
    raise TypeError(f"not an lmstream event: {event!r}")


class Console:
    """The answer on ``out``; reasoning, notes, progress and errors on ``err``."""

    def __init__(self, out: TextIO, err: TextIO) -> None:
        self.out = out
        self.err = err
        self.err_tty = is_tty(err)
        self.lock = threading.Lock()
        """Held while writing, so progress lines from the worker thread never interleave."""
        self._out_line_open = False
        self._err_line_open = False

    # -- the answer ---------------------------------------------------------------------
    def text(self, text: str) -> None:
        """Write answer text and flush it at once."""
        if not text:
            return
        with self.lock:
            self._close_err_line()
            self.out.write(text)
            self.out.flush()
            self._out_line_open = not text.endswith("\n")

    def reasoning(self, text: str) -> None:
        """Write reasoning text to stderr (dimmed on a terminal)."""
        if not text:
            return
        with self.lock:
            self.err.write(f"{DIM}{text}{UNDIM}" if self.err_tty else text)
            self.err.flush()
            self._err_line_open = not text.endswith("\n")

    def json_line(self, value: dict[str, Any]) -> None:
        """Write one JSON line to stdout."""
        with self.lock:
            self.out.write(json_line(value) + "\n")
            self.out.flush()

    def end_answer(self) -> None:
        """End the answer's last line (and any reasoning line) with a newline."""
        with self.lock:
            self._close_err_line()
            if self._out_line_open:
                self.out.write("\n")
                self.out.flush()
                self._out_line_open = False

    def show(self, event: object) -> None:
        """Show one decoded-stream event as text (Info is the caller's business)."""
        if isinstance(event, Chunk):
            if event.channel == "reasoning":
                self.reasoning(event.text)
            else:
                self.text(event.text)
        elif isinstance(event, ToolCall):
            self.line(f"[tool call {event.id}] {event.name}"
                      f"({json.dumps(event.arguments, ensure_ascii=False, default=str)})")
        elif isinstance(event, RejectedToolCall):
            self.text(event.text)
            self.note(f"rejected tool call ({event.reason}): {event.detail}")

    def line(self, text: str) -> None:
        """Write a whole line to stdout, on a line of its own."""
        self.end_answer()
        self.text(text + "\n")

    # -- stderr -------------------------------------------------------------------------
    def note(self, message: str) -> None:
        """A line on stderr (after ending the answer's line so they do not run together)."""
        with self.lock:
            if self._out_line_open and self.err_tty:
                self.out.write("\n")
                self.out.flush()
                self._out_line_open = False
            self._close_err_line()
            self.err.write(message + "\n")
            self.err.flush()

    def error(self, message: str) -> None:
        """``lmstream: error: message`` on stderr."""
        self.note(f"lmstream: error: {message}")

    def _close_err_line(self) -> None:
        if self._err_line_open:
            self.err.write("\n")
            self.err.flush()
            self._err_line_open = False
