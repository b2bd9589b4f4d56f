"""Text stages of the decode pipeline: stop strings and the reasoning split, both with hold-back.

Both hold back exactly the longest suffix that could still become a marker, so their output is
the same however the text is cut into deltas (the chunking-invariance property).
"""

from __future__ import annotations

from collections.abc import Sequence


def held_suffix_length(text: str, markers: Sequence[str]) -> int:
    """Length of the longest suffix of ``text`` that is a proper prefix of some marker."""
    best = 0
    for marker in markers:
        longest = min(len(marker) - 1, len(text))
        for k in range(longest, best, -1):
            if text.endswith(marker[:k]):
                best = k
                break
    return best


class StopStrings:
    """Finds stop strings across deltas; text that could still become one is held back."""

    __slots__ = ("_buffer", "_first_chars", "matched", "stops")

    def __init__(self, stops: Sequence[str]) -> None:
        if not stops or any(not s for s in stops):
            raise ValueError("stop strings must be non-empty")
        self.stops = tuple(stops)
        self._first_chars = frozenset(s[0] for s in self.stops)
        self._buffer = ""
        self.matched: str | None = None
        """The stop string that ended the text, once one completed (the APIs report it)."""

    @property
    def held(self) -> str:
        """The text held back because it could still become a stop string."""
        return self._buffer

    def may_stop(self, text: str) -> bool:
        """Whether ``feed(text)`` could hold or cut anything: text is held, or a stop string
        can start in ``text``. When False, ``feed(text)`` returns ``(text, False)``."""
        if self._buffer:
            return True
        for char in self._first_chars:
            if char in text:
                return True
        return False

    def feed(self, text: str) -> tuple[str, bool]:
        """Return (text safe to emit, whether a stop string completed)."""
        buffer = self._buffer + text if self._buffer else text
        for char in self._first_chars:  # no stop string can start here: the common case
            if char in buffer:
                break
        else:
            self._buffer = ""
            return buffer, False
        # The stop string that completes first wins (ties: the one that starts first): the
        # only rule a stream can apply without seeing the future, whatever the cutting.
        best: tuple[int, int] | None = None
        matched = ""
        for stop in self.stops:
            index = buffer.find(stop)
            if index != -1:
                key = (index + len(stop), index)
                if best is None or key < best:
                    best, matched = key, stop
        if best is not None:
            self._buffer = ""
            self.matched = matched
            return buffer[: best[1]], True
        hold = held_suffix_length(buffer, self.stops)
        if hold:
            self._buffer = buffer[-hold:]
            return buffer[:-hold], False
        self._buffer = ""
        return buffer, False

    def flush(self) -> str:
        """The held text at the end of the stream (it never became a stop string)."""
        held, self._buffer = self._buffer, ""
        return held


class ReasoningSplitter:
    """Splits text into ``reasoning`` (between start and end markers) and ``content``.

    The markers themselves are not emitted. ``start_in_reasoning`` is for prompts that already
    opened the reasoning block (templates ending in ``<think>``).
    """

    __slots__ = ("_buffer", "end", "in_reasoning", "start")

    def __init__(self, start: str, end: str, *, start_in_reasoning: bool = False) -> None:
        self.start, self.end = start, end
        self.in_reasoning = start_in_reasoning
        self._buffer = ""

    @property
    def held(self) -> str:
        """The text held back because it could still become the next marker."""
        return self._buffer

    def passes_through(self, text: str) -> bool:
        """Whether ``feed(text)`` would return ``text`` whole as content: not inside reasoning,
        nothing held, and no start marker can begin in ``text``."""
        return not self.in_reasoning and not self._buffer and self.start[0] not in text

    def feed(self, text: str) -> list[tuple[str, str]]:
        """Return (channel, text) segments that are decided."""
        buffer = self._buffer + text if self._buffer else text
        self._buffer = ""
        segments: list[tuple[str, str]] = []
        while buffer:
            marker = self.end if self.in_reasoning else self.start
            channel = "reasoning" if self.in_reasoning else "content"
            index = buffer.find(marker)
            if index == -1:
                hold = held_suffix_length(buffer, (marker,)) if marker[0] in buffer else 0
                emit = buffer[: len(buffer) - hold]
                if emit:
                    segments.append((channel, emit))
                self._buffer = buffer[len(buffer) - hold:]
                break
            if index:
                segments.append((channel, buffer[:index]))
            buffer = buffer[index + len(marker):]
            self.in_reasoning = not self.in_reasoning
        return segments

    def flush(self) -> list[tuple[str, str]]:
        """Held text at the end (a marker that never completed) in the current channel."""
        held, self._buffer = self._buffer, ""
        if not held:
            return []
        return [("reasoning" if self.in_reasoning else "content", held)]
