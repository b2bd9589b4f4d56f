"""One /v1/responses generation: its events become output items (and SSE bytes).

``ResponseRun.events`` drives the stream: text and reasoning chunks, function calls (at most
``max_calls``: ``max_tool_calls``, or 1 with ``parallel_tool_calls: false``; the generation
is cancelled once that many are out) and custom tool calls, whose input is checked against
the tool's grammar and generated again under it when it does not parse (``responses_custom``).
A forced custom tool's whole output is its input. Every step yields the SSE bytes it made;
the non-streamed answer ignores them and reads the builder.
"""

from __future__ import annotations

import dataclasses
from collections.abc import AsyncIterator
from dataclasses import dataclass, field

from lmstream import (
    Chunk,
    Event,
    EventStream,
    GenerationParameters,
    Info,
    LMInput,
    RejectedToolCall,
    StopReason,
    ToolCall,
    ToolCallDelta,
)

from .generation import new_id, open_stream
from .responses_custom import call_input, grammar_accepts
from .responses_output import ResponseBuilder, final_status
from .responses_tools import Grammar, ToolSet
from .state import ServedModel, ServerState


@dataclass
class ResponseRun:
    """What one response's generation needs besides its stream."""

    state: ServerState
    served: ServedModel
    lm_input: LMInput
    params: GenerationParameters
    builder: ResponseBuilder
    tools: ToolSet
    max_calls: int | None = None
    forced_custom: str | None = None
    infos: list[Info] = field(default_factory=list)
    calls: int = 0
    _custom_open: str | None = None

    async def events(self, stream: EventStream[Event]) -> AsyncIterator[list[bytes]]:
        """SSE bytes for each event of ``stream``; ``self.infos`` gets its final Info."""
        try:
            async for event in stream:
                if isinstance(event, Chunk):
                    if event.text:
                        yield self._chunk(event)
                elif isinstance(event, RejectedToolCall):
                    yield self.builder.rejected(event.text)
                elif isinstance(event, ToolCallDelta):
                    yield self._delta(event)
                elif isinstance(event, ToolCall):
                    pieces, regenerate = await self._call(event, stream)
                    yield pieces
                    if regenerate is not None:
                        async for more in self._regenerate(event, regenerate):
                            yield more
                elif isinstance(event, Info):
                    yield self._finish_forced() + self.builder.finish(final_status(event))
                    self.infos.insert(0, event)
        finally:
            stream.cancel()

    @property
    def info(self) -> Info:
        """The generation's final Info (a regenerated custom input's tokens counted in)."""
        first = self.infos[0]
        if len(self.infos) == 1:
            return first
        stats = first.stats
        extra = sum(info.stats.generated_tokens for info in self.infos[1:])
        return dataclasses.replace(first, stats=dataclasses.replace(stats, generated_tokens=stats.generated_tokens
                                                                    + extra))

    def _chunk(self, chunk: Chunk) -> list[bytes]:
        if self.forced_custom is not None and chunk.channel == "content":
            out: list[bytes] = []
            if self._custom_open is None:
                self._custom_open = new_id("call_")
                entry = self.tools.names[self.forced_custom]
                out += self.builder.custom_start(self._custom_open, entry.name, entry.namespace)
            return out + self.builder.custom_delta(self._custom_open, chunk.text)
        return self.builder.text(chunk.text, chunk.channel, len(chunk.tokens))

    def _finish_forced(self) -> list[bytes]:
        if self.forced_custom is None:
            return []
        out: list[bytes] = []
        if self._custom_open is None:  # an empty input is still the call
            self._custom_open = new_id("call_")
            entry = self.tools.names[self.forced_custom]
            out += self.builder.custom_start(self._custom_open, entry.name, entry.namespace)
        return out + self.builder.custom_done(self._custom_open)

    def _full(self) -> bool:
        return self.max_calls is not None and self.calls >= self.max_calls

    def _delta(self, delta: ToolCallDelta) -> list[bytes]:
        entry = self.tools.names.get(delta.name)
        if self._full() or (entry is not None and entry.kind == "custom"):
            return []  # a custom call's input is sent once checked against its grammar
        name, namespace = (entry.name, entry.namespace) if entry else (delta.name, None)
        return self.builder.call_delta(delta.id, name, namespace, delta.arguments_delta)

    async def _call(self, call: ToolCall, stream: EventStream[Event]) -> tuple[list[bytes], Grammar | None]:
        """The call's item; a custom call whose input does not parse returns its grammar."""
        if self._full():
            return [], None
        self.calls += 1
        if self._full():
            stream.cancel()
        entry = self.tools.names.get(call.name)
        if entry is None or entry.kind == "function":
            name, namespace = (entry.name, entry.namespace) if entry else (call.name, None)
            return self.builder.call(call.id, name, namespace, call.arguments), None
        text = call_input(call)
        if entry.grammar is not None:
            accepted = await self.state.work.run(grammar_accepts, entry.grammar, text)
            if accepted is False:
                stream.cancel()  # the input is generated again under the grammar; nothing after it
                self.max_calls = self.calls
                return self.builder.custom_start(call.id, entry.name, entry.namespace), entry.grammar
        out = self.builder.custom_start(call.id, entry.name, entry.namespace)
        out += self.builder.custom_delta(call.id, text)
        return out + self.builder.custom_done(call.id), None

    async def _regenerate(self, call: ToolCall, grammar: Grammar) -> AsyncIterator[list[bytes]]:
        """Generate a custom call's input again under its grammar (same conversation)."""
        params = self.params.with_overrides(response_format=grammar.response_format(), tool_parser="none",
                                            tool_choice=None, stream_tool_calls=False)
        stream = await open_stream(self.state, self.served, self.lm_input, params, input_param="input")
        try:
            async for event in stream:
                if isinstance(event, Chunk) and event.channel == "content" and event.text:
                    yield self.builder.custom_delta(call.id, event.text)
                elif isinstance(event, Info):
                    self.infos.append(event)
                    if event.stop_reason == StopReason.ERROR:
                        raise RuntimeError(f"generating the input of {call.name!r} failed: {event.error}")
        finally:
            stream.cancel()
        yield self.builder.custom_done(call.id)
