"""Exceptions lmstream raises; every one names the problem and, where it can, the fix."""

from __future__ import annotations


class LmstreamError(Exception):
    """Base class of lmstream's own errors."""


class UnknownNameError(LmstreamError, LookupError):
    """A backend, parser, template or observer name that no plugin registered."""

    def __init__(self, kind: str, name: str, known: list[str]) -> None:
        self.kind, self.name, self.known = kind, name, known
        listing = ", ".join(sorted(known)) if known else "none registered"
        super().__init__(f"unknown {kind} {name!r}; known {kind}s: {listing}")

    def __str__(self) -> str:
        return str(self.args[0])


class DuplicateNameError(LmstreamError, ValueError):
    """Two plugins registered the same name in one registry.

    Registries no longer raise it (the first registration keeps the name and the clash is a
    warning, see plugins/_registry.py); kept so code that catches it still imports."""


class ContextLengthError(LmstreamError, ValueError):
    """The prompt does not fit the model's context window."""


class ModelLoadError(LmstreamError):
    """A model could not be loaded (missing file, unsupported architecture or tensor type)."""


class TemplateError(LmstreamError):
    """A chat template failed to render (syntax, sandbox violation or ``raise_exception``)."""


class GenerationError(LmstreamError):
    """A generation failed; raised by helpers that raise instead of ending with ``Info``."""


class ToolCallRejected(GenerationError):
    """The model emitted a tool call that could not be accepted (ChatSession raises this)."""


class TemplateRenderError(TemplateError):
    """A TemplateError that keeps apart which template failed and what the problem was.

    ``str(error)`` is ``"<template>: <problem>"``; ``lineno`` is the template line, when known.
    """

    def __init__(self, template: str, problem: str, lineno: int | None = None) -> None:
        self.template, self.problem, self.lineno = template, problem, lineno
        super().__init__(f"{template}: {problem}")

    def __str__(self) -> str:
        return str(self.args[0])


class GGUFFormatError(ModelLoadError, ValueError):
    """A GGUF file is malformed or unsupported (the message names the file and the problem)."""
