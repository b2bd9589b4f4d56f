"""The decoded pipeline after the token id: detokenize -> stop strings -> reasoning -> tool parser.

Pure and synchronous (no threads, no I/O): the producer feeds it one token id at a time and
gets the events to deliver. Content chunks are stamped with the token ids they came from and
the absolute sequence position after them.
"""

from __future__ import annotations

from typing import Any, Literal

from ..hooks import ToolParser, with_deltas
from ..protocol import Chunk, GenerationParameters, TokenLogprob, new_chunk
from ._detokenize import make_detokenizer
from ._textstages import ReasoningSplitter, StopStrings

_NO_EVENTS: list[Any] = []


class DecodedPipeline:
    """Per-generation text state; ``token(id)`` and ``finish()`` return events to deliver.

    ``reasoning_markers``: the decided reasoning channel (None: none); by default the
    parameters' markers."""

    __slots__ = ("_detok", "_logprobs", "_parser", "_pending", "_reasoning", "_stops", "position",
                 "stopped")

    def __init__(self, tokenizer: Any, parameters: GenerationParameters, *, position: int,
                 parser: ToolParser | None = None, starts_in_reasoning: bool = False,
                 reasoning_markers: tuple[str, str] | Literal["parameters"] | None = "parameters",
                 ) -> None:
        self._detok = make_detokenizer(tokenizer)
        self._stops = StopStrings(parameters.stop) if parameters.stop else None
        markers = (parameters.reasoning_markers if reasoning_markers == "parameters"
                   else reasoning_markers)
        self._reasoning = (ReasoningSplitter(markers[0], markers[1], start_in_reasoning=starts_in_reasoning)
                           if markers else None)
        if parser is not None and parameters.stream_tool_calls:
            parser = with_deltas(parser)
        self._parser = parser
        self._pending: list[int] = []
        self._logprobs: list[TokenLogprob] | None = [] if parameters.logprobs else None
        """Logprobs of the pending tokens (aligned with ``_pending``), when asked for."""
        self.position = position
        self.stopped = False
        """True once a stop string completed: the producer must end with ``stop``."""

    @property
    def stop_sequence(self) -> str | None:
        """The stop string that ended the text (None: none did, or it ended otherwise)."""
        return self._stops.matched if self._stops is not None else None

    def token(self, token_id: int) -> list[Any]:
        """Feed one generated token id (not a stop token).

        The common case (the token's text passes every stage whole and the parser returns it
        as one content chunk) builds one Chunk and one tuple; anything else goes through the
        general stages, the token held in ``_pending`` until a chunk takes it.
        """
        self.position += 1
        text = self._detok.step(token_id)
        if text:
            stops = self._stops
            if stops is not None:
                if stops.may_stop(text):  # the stage runs only if it could hold or cut text
                    text, hit = stops.feed(text)
                    if hit:
                        self.stopped = True
        if not text:
            self._pending.append(token_id)
            return _NO_EVENTS
        reasoning = self._reasoning
        if reasoning is not None and not reasoning.passes_through(text):
            self._pending.append(token_id)
            return self._route(text)  # a reasoning marker may start here: the full stage
        parser = self._parser
        if parser is not None:
            events = parser.feed(text)
            if len(events) != 1 or type(events[0]) is not Chunk or not events[0].text:
                self._pending.append(token_id)
                return self._stamp(events)
            chunk = events[0]
            text, channel = chunk.text, chunk.channel
        else:
            channel = "content"
        pending = self._pending
        if pending:
            pending.append(token_id)
            tokens = tuple(pending)
            pending.clear()
        else:
            tokens = (token_id,)
        return [new_chunk(text, tokens, self.position, channel,
                      None if self._logprobs is None else self._take_logprobs())]

    def token_with_logprob(self, token_id: int, logprob: TokenLogprob) -> list[Any]:
        """Feed one generated token id with its logprob (``parameters.logprobs``)."""
        if self._logprobs is not None:
            self._logprobs.append(logprob)
        return self.token(token_id)

    def finish(self) -> list[Any]:
        """Flush every stage at the end of the stream: nothing held is lost."""
        events: list[Any] = []
        if not self.stopped:
            tail = self._detok.flush()
            if tail:
                events += self._text(tail)
            if not self.stopped and self._stops is not None:
                held = self._stops.flush()
                if held:
                    events += self._route(held)
        if self._reasoning is not None:
            for channel, text in self._reasoning.flush():
                events += self._segment(channel, text)
        if self._parser is not None:
            events += self._stamp(self._parser.finish())
        return events

    # -- stages -------------------------------------------------------------------------
    def _text(self, text: str) -> list[Any]:
        stops = self._stops
        if stops is not None:
            text, hit = stops.feed(text)
            if hit:
                self.stopped = True
            if not text:
                return _NO_EVENTS
        return self._route(text)

    def _route(self, text: str) -> list[Any]:
        reasoning = self._reasoning
        if reasoning is None:
            return self._segment("content", text)
        if reasoning.passes_through(text):
            return self._segment("content", text)  # fast path: no marker can start here
        events: list[Any] = []
        for channel, segment in reasoning.feed(text):
            events += self._segment(channel, segment)
        return events

    def _segment(self, channel: str, text: str) -> list[Any]:
        if channel == "content" and self._parser is not None:
            return self._stamp(self._parser.feed(text))
        logprobs = self._take_logprobs()
        return [new_chunk(text, self._take_tokens(), self.position, channel, logprobs)]  # type: ignore[arg-type]

    def _stamp(self, events: list[Any]) -> list[Any]:
        if len(events) == 1 and type(events[0]) is Chunk:  # the common case: one content delta
            chunk = events[0]
            if not chunk.text:
                return _NO_EVENTS
            return [new_chunk(chunk.text, self._take_tokens(), self.position, chunk.channel,
                          self._take_logprobs())]
        stamped: list[Any] = []
        for event in events:
            if type(event) is Chunk:
                if event.text:
                    logprobs = self._take_logprobs()
                    stamped.append(new_chunk(event.text, self._take_tokens(), self.position, event.channel,
                                         logprobs))
            else:
                self._pending.clear()  # the call consumed these tokens
                if self._logprobs:
                    self._logprobs.clear()
                stamped.append(event)
        return stamped

    def _take_logprobs(self) -> tuple[TokenLogprob, ...] | None:
        logprobs = self._logprobs
        if logprobs is None:
            return None
        taken = tuple(logprobs)
        logprobs.clear()
        return taken

    def _take_tokens(self) -> tuple[int, ...]:
        pending = self._pending
        if not pending:
            return ()
        tokens = tuple(pending)
        pending.clear()
        return tokens
