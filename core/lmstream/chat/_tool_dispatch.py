"""Tools from Python callables: JSON schemas from type hints and docstrings, validated calls.

``ChatSession(tool_dispatch=...)`` turns each callable into a ``Tool``: its ``ToolSpec`` (the
JSON schema the chat template shows the model) comes from the signature's type hints
(pydantic models, enums, ``Literal``... via pydantic) and the docstring (Google, reST or numpy
style, via docstring-parser). A call validates the model's arguments against that schema,
runs the callable (sync or async) and never raises: a failure becomes an error result the
model can read.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import functools
import inspect
import json
import re
import typing
import uuid
from collections.abc import Awaitable, Callable, Coroutine, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

import docstring_parser
import pydantic_core
from pydantic import BaseModel, ConfigDict, Field, ValidationError, create_model
from pydantic.json_schema import GenerateJsonSchema

from ..errors import ToolCallRejected
from ..protocol import Info, RejectedToolCall, StopReason, ToolCall, ToolSpec

T = TypeVar("T")

ToolDispatch = Mapping[str, Callable[..., Any]] | Sequence[Callable[..., Any]]
"""What ``tool_dispatch=`` accepts: ``{name: callable}`` or a list of named callables."""

_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_.-]{0,63}$")


@dataclass(frozen=True, slots=True)
class ToolResult:
    """A tool call the session executed, and the content it sends back to the model.

    ``error`` is the exception when the tool (or the validation of its arguments) failed;
    ``content`` then holds the error message the model sees.
    """

    call_id: str
    name: str
    content: str
    error: BaseException | None = None

    @property
    def is_error(self) -> bool:
        """True when the call failed and ``content`` reports the failure."""
        return self.error is not None


class _NoFieldTitles(GenerateJsonSchema):
    """Pydantic's schema without per-field ``title`` keys (noise in every prompt)."""

    def field_title_should_be_set(self, schema: Any) -> bool:
        return False


@dataclass(frozen=True)
class Tool:
    """A callable the session may run for the model, with its schema and argument validator."""

    name: str
    function: Callable[..., Any]
    spec: ToolSpec
    arguments_model: type[BaseModel]
    positional_only: tuple[str, ...] = ()

    @property
    def is_async(self) -> bool:
        """True for ``async def`` tools (they are awaited, never run in a thread)."""
        return inspect.iscoroutinefunction(self.function) or inspect.iscoroutinefunction(
            _call_target(self.function))

    def bind(self, arguments: Mapping[str, Any]) -> tuple[list[Any], dict[str, Any]]:
        """Validate the model's arguments; returns ``(args, kwargs)`` for the call.

        Raises pydantic's ValidationError naming the bad field.
        """
        validated = self.arguments_model.model_validate(dict(arguments))
        values = {name: getattr(validated, name) for name in type(validated).model_fields}
        args = [values.pop(name) for name in self.positional_only]
        return args, values


def tool_from_callable(function: Callable[..., Any], name: str | None = None) -> Tool:
    """Build a Tool from a callable: name, description and parameter schema from its signature.

    Every parameter becomes a JSON-schema property (typed by its annotation, ``Any`` when it
    has none); parameters without defaults are required. ``*args``/``**kwargs`` cannot be
    described to a model and are refused.
    """
    if not callable(function):
        raise TypeError(f"tool {name or function!r} is not callable")
    tool_name = name if name is not None else getattr(function, "__name__", None)
    if not isinstance(tool_name, str) or not _NAME.match(tool_name):
        raise ValueError(
            f"tool name {tool_name!r} is not a valid function name (letters, digits, _ . -; at most "
            "64); pass tool_dispatch as a dict {name: callable} to name it"
        )
    try:
        signature = inspect.signature(function)
    except (TypeError, ValueError) as exc:
        raise TypeError(f"tool {tool_name!r}: cannot read the signature of {function!r}: {exc}") from exc
    hints = _type_hints(function, tool_name)
    doc = docstring_parser.parse(inspect.getdoc(function) or "")
    param_docs = {p.arg_name: p.description for p in doc.params if p.description}
    fields: dict[str, Any] = {}
    positional_only: list[str] = []
    for param in signature.parameters.values():
        if param.kind in (param.VAR_POSITIONAL, param.VAR_KEYWORD):
            raise TypeError(
                f"tool {tool_name!r}: parameter {param.name!r} is *args/**kwargs, which a model "
                "cannot be told about; give the tool named parameters"
            )
        if param.kind is param.POSITIONAL_ONLY:
            positional_only.append(param.name)
        annotation = hints.get(param.name, Any)
        default = ... if param.default is param.empty else param.default
        fields[param.name] = (annotation, Field(default, description=param_docs.get(param.name)))
    try:
        model = create_model(  # type: ignore[call-overload]
            f"{tool_name}_arguments",
            __config__=ConfigDict(extra="forbid", arbitrary_types_allowed=False),
            **fields,
        )
        schema = model.model_json_schema(schema_generator=_NoFieldTitles)
    except Exception as exc:  # pydantic cannot describe some annotation
        raise TypeError(f"tool {tool_name!r}: cannot derive a JSON schema from its type hints: {exc}") from exc
    schema.pop("title", None)
    description = "\n\n".join(part for part in (doc.short_description, doc.long_description) if part)
    spec = ToolSpec(name=tool_name, description=description, parameters=schema)
    return Tool(tool_name, function, spec, model, tuple(positional_only))


def _call_target(function: Callable[..., Any]) -> Any:
    """What actually runs: the function itself, a partial's function, or an object's __call__."""
    if isinstance(function, functools.partial):
        return _call_target(function.func)
    if inspect.isroutine(function) or inspect.isclass(function):
        return function
    return type(function).__call__


def _type_hints(function: Callable[..., Any], tool_name: str) -> dict[str, Any]:
    try:
        return typing.get_type_hints(_call_target(function), include_extras=True)
    except Exception as exc:
        raise TypeError(f"tool {tool_name!r}: cannot resolve its type hints: {exc}") from exc


def tools_from_dispatch(dispatch: ToolDispatch | None) -> dict[str, Tool]:
    """``{name: Tool}`` from a dict of callables or a list of named callables."""
    if dispatch is None:
        return {}
    items: list[tuple[str | None, Callable[..., Any]]]
    if isinstance(dispatch, Mapping):
        items = [(str(key), value) for key, value in dispatch.items()]
    elif isinstance(dispatch, Sequence) and not isinstance(dispatch, (str, bytes)):
        items = [(None, value) for value in dispatch]
    else:
        raise TypeError(
            f"tool_dispatch must be a dict of name -> callable or a list of callables, "
            f"not {type(dispatch).__name__}"
        )
    tools: dict[str, Tool] = {}
    for name, function in items:
        tool = tool_from_callable(function, name)
        if tool.name in tools:
            raise ValueError(f"tool_dispatch names {tool.name!r} twice")
        tools[tool.name] = tool
    return tools


def merge_specs(explicit: Sequence[ToolSpec] | None, tools: Mapping[str, Tool]) -> list[ToolSpec] | None:
    """The tools the model is shown: explicit specs win; dispatch tools fill in the rest."""
    specs = list(explicit or [])
    named = {spec.name for spec in specs}
    specs += [tool.spec for name, tool in tools.items() if name not in named]
    return specs or None


# -- results ------------------------------------------------------------------------------
def encode_result(value: Any) -> str:
    """Tool output as message content: strings as they are, anything else as JSON (standard
    JSON: NaN and infinities become the strings "NaN", "Infinity", "-Infinity")."""
    if isinstance(value, str):
        return value
    try:
        return pydantic_core.to_json(value, inf_nan_mode="strings").decode()
    except pydantic_core.PydanticSerializationError as exc:
        raise TypeError(f"tool result of type {type(value).__name__} is not JSON-serializable: {exc}") from exc


def error_content(exc: BaseException) -> str:
    """What the model reads when a tool failed: ``{"error": "<Type>: <message>"}``."""
    if isinstance(exc, ValidationError):
        problems = "; ".join(
            f"{'.'.join(str(p) for p in e['loc']) or 'arguments'}: {e['msg']}" for e in exc.errors()
        )
        message = f"invalid arguments: {problems}"
    else:
        message = f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
    return json.dumps({"error": message}, ensure_ascii=False)


def _finish(tool: Tool, call: ToolCall, value: Any) -> ToolResult:
    try:
        return ToolResult(call.id, tool.name, encode_result(value))
    except Exception as exc:
        return ToolResult(call.id, tool.name, error_content(exc), exc)


def call_tool(tool: Tool, call: ToolCall) -> ToolResult:
    """Run a tool from sync code (an async tool runs on its own event loop); never raises
    ``Exception`` (the failure becomes an error result)."""
    try:
        args, kwargs = tool.bind(call.arguments)
        value = tool.function(*args, **kwargs)
        if inspect.isawaitable(value):
            value = run_awaitable(value)
    except Exception as exc:
        return ToolResult(call.id, tool.name, error_content(exc), exc)
    return _finish(tool, call, value)


async def acall_tool(tool: Tool, call: ToolCall) -> ToolResult:
    """Run a tool from async code: async tools are awaited, sync tools run in a thread so the
    event loop keeps serving; never raises ``Exception``."""
    try:
        args, kwargs = tool.bind(call.arguments)
        if tool.is_async:
            value = await tool.function(*args, **kwargs)
        else:
            value = await asyncio.to_thread(tool.function, *args, **kwargs)
            if inspect.isawaitable(value):
                value = await value
    except Exception as exc:
        return ToolResult(call.id, tool.name, error_content(exc), exc)
    return _finish(tool, call, value)


def run_awaitable(awaitable: Awaitable[T]) -> T:
    """Run an awaitable to completion from sync code, even inside a running event loop's
    thread (then on a helper thread with its own loop)."""

    async def wrapper() -> T:
        return await awaitable

    coroutine: Coroutine[Any, Any, T] = wrapper()
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return asyncio.run(coroutine)
    with concurrent.futures.ThreadPoolExecutor(1, thread_name_prefix="lmstream-tool") as pool:
        return pool.submit(asyncio.run, coroutine).result()


ANSWERED_REJECTIONS = ("undeclared_tool", "invalid_arguments")
"""Refused calls a ChatSession answers with an error result so the model can retry (unless
``raise_on_rejected_calls``); other rejections (``malformed``, ``incomplete``) are text."""


def refused_call(event: RejectedToolCall) -> tuple[ToolCall, ToolResult] | None:
    """A refused but parsed call as it goes into the history (a fresh id), with the error
    result the model reads; None for rejections that are not answered."""
    if event.name is None or event.reason not in ANSWERED_REJECTIONS:
        return None
    call = ToolCall("call_" + uuid.uuid4().hex[:24], event.name, event.arguments or {})
    message = f"{event.reason}: {event.detail}"
    content = json.dumps({"error": message}, ensure_ascii=False)
    return call, ToolResult(call.id, call.name, content, ToolCallRejected(message))


def next_round(start: Callable[[], None], fail: Callable[[Info], None], last: Info) -> None:
    """Start the generation that reads the tool results; one that cannot start (a result that
    overflows the context, a template error) ends the turn with ``Info(error)``, as documented
    for ``stream_details``, instead of raising in the middle of the iteration."""
    try:
        start()
    except Exception as exc:
        fail(Info(StopReason.ERROR, last.stats, exc))
