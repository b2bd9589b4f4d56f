"""One ChatSession turn as a stream: one state machine, driven by ``for`` or ``async for``.

A turn renders the whole conversation, generates with the session's prompt cache, and, when
the model calls tools the session can dispatch, runs them and generates again. It commits
its messages when it ends normally (``stop`` or ``length``); when it is cancelled, fails,
hits the tool-round limit or is left early, it is rolled back: the history loses the turn's
messages and the cache is trimmed back to what it held before the turn.
"""

from __future__ import annotations

from collections import deque
from collections.abc import AsyncIterator, Iterator
from types import TracebackType
from typing import Any, Generic, Literal, TypeVar

from ..api import generate
from ..errors import GenerationError, ToolCallRejected
from ..model import common_prefix_length
from ..protocol import (
    ChatMessage,
    Chunk,
    Event,
    EventStream,
    GenerationParameters,
    GenerationStats,
    Info,
    RejectedToolCall,
    StopReason,
    ToolCall,
)
from ._tool_dispatch import Tool, ToolResult, acall_tool, call_tool, next_round, refused_call
from ._turn_owner import TurnOwner
from ._turn_round import Round, assistant_message

T = TypeVar("T")

SessionEvent = Chunk | ToolCall | RejectedToolCall | ToolResult | Info
"""What ``ChatSession.stream_details`` yields."""

_Dispatch = list[tuple[Tool, ToolCall]]


class ChatStream(Generic[T]):
    """The events (``stream_details``) or text deltas (``stream_response``) of one turn.

    Works with ``for`` and ``async for`` (one of them per stream); generation starts when the
    stream is created. Leaving it early (``break``, an exception, ``close()``, garbage
    collection, ``with`` exit, task cancellation) cancels the turn and rolls it back.
    """

    def __init__(self, session: TurnOwner, user_message: ChatMessage | None,
                 parameters: GenerationParameters, *, text_only: bool) -> None:
        self._session = session
        self._parameters = parameters
        self._text_only = text_only
        self._out: deque[Any] = deque()
        self._finished = False
        self._raise: BaseException | None = None
        self._cancel_requested = False
        self._stream: EventStream[Event] | None = None
        self._cursor: Iterator[Event] | AsyncIterator[Event] | None = None
        self._mode: Literal["sync", "async"] | None = None
        self._round = Round()
        self._rounds_dispatched = 0
        self._pending_dispatch: _Dispatch = []
        self._undispatched = False
        self._snapshot: list[int] = []
        self.infos: list[Info] = []
        """The final Info of every generation of the turn (one per tool round)."""
        self.info: Info | None = None
        """The turn's final Info once it ended (None if it was left early)."""
        self.tool_results: list[ToolResult] = []
        """The tool calls the session executed during this turn."""
        self.text: str | None = None
        """The content of the turn's final assistant message once it committed."""

        self._history_length = len(session.messages)
        cache = session.cache
        holder = self

        def snapshot() -> None:  # on the worker, before this turn's first generation
            holder._snapshot = list(cache.tokens)

        session.context.when_cache_free(cache, snapshot)
        if user_message is not None:
            session.messages.append(user_message)
        try:
            self._start_round()
        except BaseException:
            self._rollback()
            raise

    # -- iteration ----------------------------------------------------------------------
    def __iter__(self) -> Iterator[T]:
        return _Cursor(self)

    def __next__(self) -> T:
        return self._next_sync()

    def __aiter__(self) -> AsyncIterator[T]:
        return _AsyncCursor(self)

    def _take_cursor(self, mode: Literal["sync", "async"]) -> Any:
        if self._mode is None:
            self._mode = mode
        elif self._mode != mode:
            raise TypeError("iterate a chat stream with `for` or with `async for`, not both")
        if self._cursor is None:
            assert self._stream is not None
            self._cursor = iter(self._stream) if mode == "sync" else aiter(self._stream)
        return self._cursor

    def _next_sync(self) -> T:
        try:
            while not self._out:
                if self._finished:
                    self._raise_pending()
                    raise StopIteration
                if self._pending_dispatch:
                    work, self._pending_dispatch = self._pending_dispatch, []
                    self._after_dispatch([call_tool(tool, call) for tool, call in work])
                    continue
                event = next(self._take_cursor("sync"))
                self._on_event(event)
        except StopIteration:
            raise
        except BaseException:
            self.close()
            raise
        item: T = self._out.popleft()
        return item

    async def _next_async(self) -> T:
        try:
            while not self._out:
                if self._finished:
                    self._raise_pending()
                    raise StopAsyncIteration
                if self._pending_dispatch:
                    work, self._pending_dispatch = self._pending_dispatch, []
                    self._after_dispatch([await acall_tool(tool, call) for tool, call in work])
                    continue
                event = await anext(self._take_cursor("async"))
                self._on_event(event)
        except StopAsyncIteration:
            raise
        except BaseException:
            self.close()
            raise
        item: T = self._out.popleft()
        return item

    def _raise_pending(self) -> None:
        error, self._raise = self._raise, None
        if error is not None:
            raise error

    # -- the state machine --------------------------------------------------------------
    def _emit(self, item: Any) -> None:
        self._out.append(item)

    def _start_round(self) -> None:
        session = self._session
        if self._cancel_requested:
            self._end_failed(Info(StopReason.CANCELLED, GenerationStats()))
            return
        lm_input = session.prepare_input(self._parameters)
        self._round = Round()
        self._cursor = None
        self._stream = generate(lm_input, parameters=self._parameters, context=session.context,
                                cache=session.cache)

    def _on_event(self, event: Event) -> None:
        kind = type(event)
        current = self._round
        if kind is Chunk:
            assert isinstance(event, Chunk)
            if event.channel == "content":
                current.content.append(event.text)
                self._emit(event.text if self._text_only else event)
            else:
                current.reasoning.append(event.text)
                if not self._text_only:
                    self._emit(event)
        elif kind is ToolCall:
            assert isinstance(event, ToolCall)
            current.calls.append(event)
            if not self._text_only:
                self._emit(event)
        elif kind is RejectedToolCall:
            assert isinstance(event, RejectedToolCall)
            refused = None if self._session.raise_on_rejected_calls else refused_call(event)
            if refused is not None:
                call, result = refused
                current.calls.append(call)
                current.refused[call.id] = result
                if not self._text_only:
                    self._emit(event)
                return
            current.content.append(event.text)
            if self._text_only:
                self._abort(ToolCallRejected(
                    f"the model emitted a tool call that was rejected ({event.reason}): {event.detail}"
                ))
            else:
                self._emit(event)
        elif kind is Info:
            assert isinstance(event, Info)
            self.infos.append(event)
            self._end_round(event)

    def _end_round(self, info: Info) -> None:
        if info.stop_reason in (StopReason.ERROR, StopReason.CANCELLED):
            self._end_failed(info)
            return
        current = self._round
        message = assistant_message(current)
        self._session.messages.append(message)
        self.text = message.content if isinstance(message.content, str) else ""
        dispatch = self._session.tools
        work = [(dispatch[call.name], call) for call in current.calls
                if call.name in dispatch and call.id not in current.refused]
        if not work and not current.refused:
            self._end_committed(info)
            return
        limit = self._session.max_tool_rounds
        if self._rounds_dispatched >= limit:
            names = ", ".join([call.name for _, call in work]
                              + [r.name for r in current.refused.values()])
            error = GenerationError(
                f"the model kept calling tools after {limit} tool rounds (max_tool_rounds={limit}); "
                f"last calls: {names}. The turn was rolled back; raise max_tool_rounds or change the prompt"
            )
            self._end_failed(Info(StopReason.ERROR, info.stats, error))
            return
        self._undispatched = len(work) + len(current.refused) < len(current.calls)
        self._pending_dispatch = work
        if not work:  # only refused calls: answer them and go on
            self._after_dispatch([])

    def _after_dispatch(self, results: list[ToolResult]) -> None:
        session = self._session
        refused = self._round.refused
        if refused:  # the error results of refused calls join the others, in call order
            order = {call.id: i for i, call in enumerate(self._round.calls)}
            results = sorted([*results, *refused.values()], key=lambda r: order[r.call_id])
        for result in results:
            session.messages.append(ChatMessage(role="tool", tool_call_id=result.call_id,
                                                 name=result.name, content=result.content))
            self.tool_results.append(result)
            if not self._text_only:
                self._emit(result)
        last = self.infos[-1]
        if self._undispatched:  # calls the caller must answer: the turn ends here
            self._end_committed(last)
            return
        self._rounds_dispatched += 1
        next_round(self._start_round, self._end_failed, last)

    def _end_committed(self, info: Info) -> None:
        self.info = info
        self._finished = True
        self._session.turn_ended(self, info)
        if not self._text_only:
            self._emit(info)

    def _end_failed(self, info: Info) -> None:
        self.info = info
        self._rollback()
        self._session.turn_ended(self, info)
        if not self._text_only:
            self._emit(info)
        elif info.stop_reason is StopReason.ERROR:
            self._raise = info.error or GenerationError("the generation failed")

    def _abort(self, error: BaseException) -> None:
        """Stop the turn now with ``error`` to raise once the text before it was consumed."""
        if self._stream is not None:
            self._stream.cancel()
        self._rollback()
        self._session.turn_ended(self, None)
        self._raise = error

    def _rollback(self) -> None:
        """Forget the turn: history back to its length before, cache back to its snapshot."""
        if self._finished:
            return
        self._finished = True
        self._pending_dispatch = []
        self.text = None
        session = self._session
        del session.messages[self._history_length:]
        cache = session.cache
        holder = self

        def trim() -> None:  # on the worker, after this turn's generation has finished
            cache.trim_to(common_prefix_length(holder._snapshot, cache.tokens))

        try:
            session.context.when_cache_free(cache, trim)
        except RuntimeError:  # the context is closed: the cache is gone with it
            pass

    # -- control ------------------------------------------------------------------------
    @property
    def finished(self) -> bool:
        """True once the turn committed or was rolled back."""
        return self._finished

    def cancel(self) -> None:
        """Stop the turn at the next token boundary; iteration then ends (``Info(cancelled)``
        for ``stream_details``) and the turn is rolled back."""
        self._cancel_requested = True
        if self._stream is not None:
            self._stream.cancel()

    def close(self) -> None:
        """Leave the turn: cancel it unless it ended, and roll it back."""
        if self._finished:
            return
        if self._stream is not None:
            self._stream.cancel()
        self._rollback()
        self._session.turn_ended(self, None)

    def _left_early(self) -> None:
        try:
            self.close()
        except Exception:  # interpreter shutdown: nothing left to roll back
            pass

    def __del__(self) -> None:
        self._left_early()

    def __enter__(self) -> ChatStream[T]:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.close()

    async def __aenter__(self) -> ChatStream[T]:
        return self

    async def __aexit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                        tb: TracebackType | None) -> None:
        self.close()


class _Cursor(Iterator[Any]):
    """``for`` over a ChatStream; dropping it before the end leaves the turn."""

    __slots__ = ("_stream",)

    def __init__(self, stream: ChatStream[Any]) -> None:
        self._stream = stream

    def __next__(self) -> Any:
        return self._stream._next_sync()

    def __del__(self) -> None:
        self._stream._left_early()


class _AsyncCursor(AsyncIterator[Any]):
    """``async for`` over a ChatStream; dropping it before the end leaves the turn."""

    __slots__ = ("_stream",)

    def __init__(self, stream: ChatStream[Any]) -> None:
        self._stream = stream

    async def __anext__(self) -> Any:
        return await self._stream._next_async()

    def __del__(self) -> None:
        self._stream._left_early()
