"""ChatSession: a multi-turn chat over one model context, reusing the KV cache between turns.

Each turn renders the whole conversation with the model's chat template and generates with
one prompt cache kept for the session, so the backend prefills only the new suffix
(``Info.stats.cached_prompt_tokens`` says how much was reused). Tool calls are executed
for the model when the session has a ``tool_dispatch``; otherwise they wait for the caller's
``add_tool_result``. See docs/chat-session.md.
"""

from __future__ import annotations

import json
import os
import weakref
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from ..api import ModelContext, generate_tokens_task
from ..errors import GenerationError
from ..model import PromptCache
from ..protocol import (
    ChatMessage,
    ChatTemplateOptions,
    GenerationParameters,
    Info,
    LMInput,
    ToolCall,
    ToolSpec,
    UserInput,
    check_path,
    coerce_tools,
    resolve_parameters,
)
from ._session_file import (
    SESSION_FORMAT,
    SESSION_VERSION,
    read_session_file,
    saved_template_options,
    write_session_file,
)
from ._stream import ChatStream, SessionEvent
from ._tool_dispatch import ToolDispatch, encode_result, merge_specs, tools_from_dispatch
from ._turn_owner import TurnOwner

DEFAULT_MAX_TOOL_ROUNDS = 8

ParametersLike = GenerationParameters | Mapping[str, Any] | None


class ChatSession:
    """A conversation with a model: ``respond`` / ``stream_response`` / ``stream_details``.

    ``instructions`` becomes the system message; ``parameters`` apply to every turn (a turn
    may override them); ``tools`` are shown to the model; ``tool_dispatch`` (``{name:
    callable}`` or a list of callables, sync or async) are tools the session runs itself,
    their schemas derived from type hints and docstrings. ``max_tool_rounds`` bounds how many
    times one turn may run tools before it fails with a GenerationError. A call the parser
    refuses (undeclared tool, arguments off the schema) is answered with an error result so the
    model can retry, or raises ``ToolCallRejected`` with ``raise_on_rejected_calls=True``.
    """

    def __init__(self, context: ModelContext, instructions: str | None = None,
                 parameters: ParametersLike = None,
                 tools: Sequence[ToolSpec | Mapping[str, Any]] | None = None,
                 tool_dispatch: ToolDispatch | None = None, *,
                 max_tool_rounds: int = DEFAULT_MAX_TOOL_ROUNDS,
                 raise_on_rejected_calls: bool = False,
                 template_options: ChatTemplateOptions | Mapping[str, Any] | None = None,
                 history: Sequence[ChatMessage | Mapping[str, Any]] | None = None) -> None:
        if not isinstance(context, ModelContext):
            raise TypeError(f"context must be a ModelContext from lmstream.load(), not {type(context).__name__}")
        if instructions is not None and not isinstance(instructions, str):
            raise TypeError(f"instructions must be a string, not {type(instructions).__name__}")
        if isinstance(max_tool_rounds, bool) or not isinstance(max_tool_rounds, int) or max_tool_rounds < 0:
            raise ValueError(f"max_tool_rounds must be a non-negative int, got {max_tool_rounds!r}")
        self.context = context
        self._instructions = instructions
        self.parameters = resolve_parameters(_as_parameters(parameters), {})
        self.max_tool_rounds = max_tool_rounds
        self.raise_on_rejected_calls = raise_on_rejected_calls
        """False (default): a call to an undeclared tool or with arguments off its schema is
        answered with an error result the model reads (it counts as a tool round); True: the
        turn fails with ToolCallRejected (``stream_response`` / ``respond``)."""
        options = (template_options if isinstance(template_options, ChatTemplateOptions)
                   else ChatTemplateOptions.model_validate(template_options or {}))
        self.template_options = options.model_copy(update={"add_generation_prompt": True})
        self._dispatch = tools_from_dispatch(tool_dispatch)
        self._tools: list[ToolSpec] | None = merge_specs(coerce_tools(tools), self._dispatch)  # type: ignore[arg-type]
        self._messages: list[ChatMessage] = self._initial_messages()
        if history is not None and (isinstance(history, (str, bytes, Mapping))
                                    or not isinstance(history, Sequence)):
            raise TypeError(f"history must be a list of ChatMessage or dicts, not "
                            f"{type(history).__name__}")
        for index, message in enumerate(history or ()):
            if not isinstance(message, (ChatMessage, Mapping)):
                raise TypeError(f"history[{index}] must be a ChatMessage or a dict, not "
                                f"{type(message).__name__}")
            self._messages.append(_message(message))
        if instructions is not None and any(m.role == "system" for m in self._messages[1:2]):
            raise ValueError("give the system prompt as instructions= or as history's first message, not both")
        self._cache: PromptCache = context.new_cache()
        self._active: weakref.ref[ChatStream[Any]] | None = None
        self.last_info: Info | None = None
        """The final Info of the last turn that ended (None before, or after a turn was left)."""

    # -- state --------------------------------------------------------------------------
    @property
    def instructions(self) -> str | None:
        """The system prompt the session was made with (``clear()`` keeps it)."""
        return self._instructions

    @property
    def tools(self) -> list[ToolSpec] | None:
        """The tools the model is shown: ``tools=`` plus the schemas derived from ``tool_dispatch``."""
        return list(self._tools) if self._tools is not None else None

    @property
    def history(self) -> list[ChatMessage]:
        """The conversation (a copy): the system message, then user, assistant and tool messages.

        While a turn runs it includes that turn's messages so far."""
        return list(self._messages)

    @property
    def cache(self) -> PromptCache:
        """The prompt (KV) cache the session reuses between turns."""
        return self._cache

    @property
    def tool_dispatch(self) -> dict[str, Any]:
        """The callables the session runs for the model, by tool name."""
        return {name: tool.function for name, tool in self._dispatch.items()}

    @property
    def pending_tool_calls(self) -> list[ToolCall]:
        """Tool calls of the last assistant message that have no tool result yet."""
        answered: set[str] = set()
        for message in reversed(self._messages):
            if message.role == "tool":
                if message.tool_call_id is not None:
                    answered.add(message.tool_call_id)
                continue
            if message.role == "assistant" and message.tool_calls:
                calls = [_tool_call(raw) for raw in message.tool_calls]
                return [call for call in calls if call.id not in answered]
            return []
        return []

    def _initial_messages(self) -> list[ChatMessage]:
        if self.instructions is None:
            return []
        return [ChatMessage(role="system", content=self.instructions)]

    def _prepare_input(self, parameters: GenerationParameters | None = None) -> LMInput:
        """Render the whole conversation (generation prompt on) and tokenize it."""
        user_input = UserInput(messages=list(self._messages), tools=self._tools,
                               template_options=self.template_options)
        return self.context.prepare(user_input, parameters=parameters)

    # -- turns --------------------------------------------------------------------------
    def stream_details(self, text: str | None, *, parameters: ParametersLike = None) -> ChatStream[SessionEvent]:
        """Start a turn and stream every event: Chunk (content and reasoning), ToolCall,
        RejectedToolCall, ToolResult (a tool the session ran), and finally one Info.

        ``text=None`` continues the conversation (after ``add_tool_result``). Iterating never
        raises on a failed generation: it ends with ``Info(stop_reason="error")`` and the turn
        is rolled back. Bad input (a template error, a prompt too long) raises.
        """
        return self._start(text, parameters, text_only=False)

    def stream_response(self, text: str | None, *, parameters: ParametersLike = None) -> ChatStream[str]:
        """Start a turn and stream the answer's text deltas (content only).

        Raises the backend's exception when the generation fails, ``ToolCallRejected`` when
        the model emits a tool call that cannot be accepted, and GenerationError past
        ``max_tool_rounds``; the turn is rolled back first.
        """
        return self._start(text, parameters, text_only=True)

    astream_details = stream_details
    """The same stream: ``async for event in session.astream_details(text)``."""
    astream_response = stream_response
    """The same stream: ``async for delta in session.astream_response(text)``."""

    def respond(self, text: str | None, *, parameters: ParametersLike = None) -> str:
        """Run a turn and return the answer: the content of its final assistant message."""
        stream = self.stream_response(text, parameters=parameters)
        for _ in stream:
            pass
        return stream.text or ""

    async def arespond(self, text: str | None, *, parameters: ParametersLike = None) -> str:
        """``respond`` for asyncio code (tools run without blocking the event loop)."""
        stream = self.stream_response(text, parameters=parameters)
        async for _ in stream:
            pass
        return stream.text or ""

    def _start(self, text: str | None, parameters: ParametersLike, *, text_only: bool) -> ChatStream[Any]:
        self._leave_active_turn()
        overrides = _as_parameters(parameters)
        if overrides is None:
            params = self.parameters
        elif isinstance(overrides, GenerationParameters):
            params = overrides
        else:
            params = self.parameters.with_overrides(**overrides)
        message = self._user_message(text)
        owner = TurnOwner(self.context, self._messages, self._cache, self._dispatch,
                          self.raise_on_rejected_calls, self.max_tool_rounds,
                          self._prepare_input, self._turn_ended)
        stream: ChatStream[Any] = ChatStream(owner, message, params, text_only=text_only)
        if not stream.finished:
            self._active = weakref.ref(stream)
        return stream

    def _user_message(self, text: str | None) -> ChatMessage | None:
        pending = self.pending_tool_calls
        if pending:
            ids = ", ".join(repr(call.id) for call in pending)
            raise ValueError(
                f"the model's tool calls {ids} have no result yet: answer each with "
                "session.add_tool_result(call_id, content), then continue with respond(None)"
            )
        if text is None:
            if not self._messages or self._messages[-1].role not in ("user", "tool"):
                raise ValueError("respond(None) continues after a user or tool message; there is none to answer")
            return None
        if not isinstance(text, str):
            raise TypeError(f"text must be a string (or None to continue), not {type(text).__name__}")
        if not text.strip():
            raise ValueError("text is empty")
        return ChatMessage(role="user", content=text)

    def _active_turn(self) -> ChatStream[Any] | None:
        stream = self._active() if self._active is not None else None
        return stream if stream is not None and not stream.finished else None

    def _leave_active_turn(self) -> None:
        """One turn at a time: an unfinished turn is cancelled and rolled back."""
        stream = self._active_turn()
        if stream is not None:
            stream.close()
        self._active = None

    def _turn_ended(self, stream: object, info: Info | None) -> None:
        """Called by the turn when it committed, failed or was left."""
        if self._active is not None and self._active() is stream:
            self._active = None
        self.last_info = info

    # -- tool results, clearing -----------------------------------------------------------
    def add_tool_result(self, call_id: str, content: Any) -> ChatMessage:
        """Answer a pending tool call (strings as they are, anything else JSON-encoded); once
        every call has a result, ``respond(None)`` / ``stream_details(None)`` continues."""
        if self._active_turn() is not None:
            raise RuntimeError("a turn is running; add tool results after it ended")
        pending = {call.id: call for call in self.pending_tool_calls}
        call = pending.get(call_id)
        if call is None:
            known = ", ".join(repr(i) for i in pending) or "none"
            raise ValueError(f"no pending tool call with id {call_id!r} (pending: {known})")
        message = ChatMessage(role="tool", tool_call_id=call_id, name=call.name, content=encode_result(content))
        self._messages.append(message)
        return message

    def clear(self) -> None:
        """Forget the conversation (the instructions stay) and empty the cache."""
        self._leave_active_turn()
        self._messages[:] = self._initial_messages()  # in place: a TurnOwner holds the list
        self.last_info = None
        cache = self._cache
        self.context.when_cache_free(cache, lambda: cache.trim_to(0))

    # -- persistence --------------------------------------------------------------------
    def save(self, path: str | os.PathLike[str]) -> None:
        """Write the session to a JSON file: messages, instructions, tools, parameters,
        template options and the token ids the prompt cache holds (not the KV tensors:
        ``load`` recomputes them by prefilling those ids)."""
        check_path(path)
        if self._active_turn() is not None:
            raise RuntimeError("a turn is running; save after it ended")
        cache = self._cache
        tokens = self.context.worker.call(lambda: list(cache.tokens))
        data = {
            "format": SESSION_FORMAT,
            "version": SESSION_VERSION,
            "model": {"name": self.context.info.name, "backend": self.context.info.backend},
            "instructions": self.instructions,
            "max_tool_rounds": self.max_tool_rounds,
            "parameters": self.parameters.model_dump(mode="json"),
            "template_options": saved_template_options(
                self.template_options.model_dump(mode="json"),
                set(self.context.plugin_system.chat_templates.names()),
                self.context.info.chat_template),
            "tools": [spec.model_dump(mode="json") for spec in self.tools or []],
            "messages": [m.model_dump(mode="json", exclude_none=True) for m in self._messages],
            "cache": {"tokens": tokens},
        }
        write_session_file(Path(path), data)

    @classmethod
    def load(cls, path: str | os.PathLike[str], context: ModelContext, *,
             tool_dispatch: ToolDispatch | None = None, parameters: ParametersLike = None,
             restore_cache: bool = True) -> ChatSession:
        """Read a session ``save`` wrote. Tool callables cannot be saved: pass them again as
        ``tool_dispatch``. With ``restore_cache`` the saved token ids are prefilled into a
        fresh cache now (the file must come from the same model), so the next turn reuses them."""
        check_path(path)
        source = Path(path)
        if not isinstance(context, ModelContext):
            raise TypeError(f"context must be a ModelContext from lmstream.load(), not {type(context).__name__}")
        saved = read_session_file(source, set(context.plugin_system.chat_templates.names()),
                                  context.info.chat_template)
        instructions = saved.instructions
        messages = list(saved.messages)
        if instructions is not None and messages and messages[0].get("role") == "system":
            messages = messages[1:]
        try:
            session = cls(
                context, instructions,
                parameters=parameters if parameters is not None else saved.parameters,
                tools=saved.tools or None,
                tool_dispatch=tool_dispatch,
                max_tool_rounds=saved.max_tool_rounds,
                template_options=saved.template_options,
                history=messages,
            )
        except (TypeError, ValueError) as exc:
            raise ValueError(f"cannot read chat session file {str(source)!r}: {exc}") from exc
        tokens = saved.cache.tokens
        if restore_cache and tokens:
            session._restore_cache(tokens, saved.model.model_dump(), source)
        return session

    def _restore_cache(self, tokens: list[Any], model: Mapping[str, Any], source: Path) -> None:
        info = self.context.info
        if (model.get("name"), model.get("backend")) != (info.name, info.backend):
            raise ValueError(
                f"{str(source)!r} was saved with model {model.get('name')!r} (backend "
                f"{model.get('backend')!r}), not {info.name!r} ({info.backend!r}): its cached token "
                "ids mean nothing here; pass restore_cache=False to load only the conversation"
            )
        if not all(isinstance(t, int) and not isinstance(t, bool) and t >= 0 for t in tokens):
            raise ValueError(f"{str(source)!r}: cache.tokens must be a list of token ids")
        params = self.parameters.with_overrides(max_tokens=1, stop=())
        try:
            _, task = generate_tokens_task(LMInput(tokens=tuple(tokens)), parameters=params,
                                           context=self.context, cache=self._cache)
            task.wait()
        except Exception as exc:
            raise GenerationError(f"could not restore the prompt cache from {str(source)!r}: {exc}; "
                                  "pass restore_cache=False to load only the conversation") from exc
        cache = self._cache
        self.context.worker.call(cache.trim_to, len(tokens))

    def __repr__(self) -> str:
        return f"<ChatSession {self.context.info.name!r} messages={len(self._messages)}>"


def _as_parameters(parameters: ParametersLike) -> GenerationParameters | dict[str, Any] | None:
    if parameters is None or isinstance(parameters, GenerationParameters):
        return parameters
    if isinstance(parameters, Mapping):
        return dict(parameters)
    raise TypeError(f"parameters must be GenerationParameters or a dict, not {type(parameters).__name__}")


def _message(message: ChatMessage | Mapping[str, Any]) -> ChatMessage:
    return message if isinstance(message, ChatMessage) else ChatMessage.model_validate(dict(message))


def _tool_call(raw: Mapping[str, Any]) -> ToolCall:
    """A ToolCall from a history entry (OpenAI shape; arguments as a dict or a JSON string)."""
    function = raw.get("function", raw)
    arguments = function.get("arguments", {})
    if isinstance(arguments, str):
        try:
            arguments = json.loads(arguments) if arguments.strip() else {}
        except json.JSONDecodeError:
            arguments = {"_raw": arguments}
    return ToolCall(id=str(raw.get("id", "")), name=str(function.get("name", "")),
                    arguments=arguments if isinstance(arguments, dict) else {"_value": arguments})

