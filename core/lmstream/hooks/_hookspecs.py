"""The lmstream plugin hooks. Implement them with ``@lmstream.hookimpl``."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import pluggy

if TYPE_CHECKING:
    from ..model import BackendFactory, DrafterFactory, ModelInfo
    from ..protocol import Event, Info, Token
    from ._commands import Command
    from ._observer_contract import GenerationRecord
    from ._templating import ChatTemplateRenderer
    from ._toolparsing import ToolParserFactory

PROJECT_NAME = "lmstream"
hookspec = pluggy.HookspecMarker(PROJECT_NAME)
hookimpl = pluggy.HookimplMarker(PROJECT_NAME)


@hookspec
def lmstream_register_backends(register: Callable[[str, BackendFactory], None]) -> None:
    """Register backends: ``register(name, factory)``; factories import heavy deps lazily."""


@hookspec
def lmstream_register_tool_parsers(register: Callable[[str, ToolParserFactory], None]) -> None:
    """Register tool-call parsers: ``register(name, factory)``; one fresh parser per generation."""


@hookspec
def lmstream_register_chat_templates(register: Callable[[str, ChatTemplateRenderer], None]) -> None:
    """Register chat-template renderers: ``register(name, renderer)``."""


@hookspec
def lmstream_register_observers(register: Callable[[str, Callable[..., Any]], None]) -> None:
    """Register observer factories by name, for per-call selection (``observers=["log"]``)."""


@hookspec(firstresult=True)
def lmstream_resolve_tool_parser(model: ModelInfo) -> str | None:
    """The name of the tool-call parser that fits ``model``, or None to let others decide."""


@hookspec(firstresult=True)
def lmstream_resolve_chat_template(model: ModelInfo) -> str | None:
    """The name of the chat-template renderer that fits ``model``, or None."""


@hookspec
def lmstream_generation_start(generation: GenerationRecord) -> None:
    """A generation started; ``generation`` describes it (id, model, parameters)."""


@hookspec
def lmstream_generation_event(generation: GenerationRecord, event: Event | Token) -> None:
    """An event is about to be delivered. Keep it cheap: it runs once per event."""


@hookspec
def lmstream_generation_end(generation: GenerationRecord, info: Info) -> None:
    """A generation ended with ``info`` (always called, exactly once per generation)."""


@hookspec
def lmstream_register_commands(register: Callable[[str, Command], None]) -> None:
    """Register subcommands of ``lmstream``: ``register(name, lmstream.plugin.Command(...))``."""


@hookspec
def lmstream_register_constraint_engines(register: Callable[[str, Any], None]) -> None:
    """Register structured-output engines: ``register(name, engine)`` (JSON schema / regex /
    grammar -> per-generation token masks); ``engine`` is a ``lmstream.plugin.ConstraintEngine``
    (typed loosely here so the hook specs import nothing from the constraint machinery)."""


@hookspec
def lmstream_register_drafters(register: Callable[[str, DrafterFactory], None]) -> None:
    """Register speculative-decoding drafters: ``register(name, factory)``; the context calls
    ``factory(backend_model, **options)`` once, for ``load(..., drafter=name)``."""
