"""The ``jinja`` renderer: Hugging Face chat templates in the sandbox, errors made readable."""

from __future__ import annotations

import types
from collections.abc import Mapping
from typing import Any

import jinja2
from jinja2.exceptions import SecurityError

from lmstream import TemplateRenderError
from lmstream.plugin import TemplateRequest

from . import limits
from .context import template_variables
from .environment import TemplateRaised, compile_template
from .limits import TemplateLimitError


def _template_line(tb: types.TracebackType | None) -> int | None:
    """The template line an exception was raised from (jinja2 rewrites frames to ``<template>``)."""
    line = None
    while tb is not None:
        if tb.tb_frame.f_code.co_filename == "<template>":
            line = tb.tb_lineno
        tb = tb.tb_next
    return line


def _problem(exc: Exception) -> tuple[str, int | None]:
    """A one-line description of a render failure and the template line it happened on."""
    if isinstance(exc, jinja2.TemplateSyntaxError):
        return f"syntax error at line {exc.lineno}: {exc.message}", exc.lineno
    line = _template_line(exc.__traceback__)
    where = f" at line {line}" if line is not None else ""
    if isinstance(exc, TemplateLimitError):
        return f"{exc.message}{where}", line
    if isinstance(exc, MemoryError):
        return f"the template ran out of memory{where}", line
    if isinstance(exc, TemplateRaised):
        return f"the template raised an exception{where}: {exc.message}", line
    if isinstance(exc, SecurityError):
        return f"sandbox violation{where}: {exc}", line
    if isinstance(exc, jinja2.UndefinedError):
        return f"undefined value{where}: {exc.message}", line
    return f"{type(exc).__name__}{where}: {exc}", line


def render_source(source: str, label: str, variables: Mapping[str, Any]) -> str:
    """Compile (cached by text) and render ``source`` within the template limits; any failure
    is a TemplateRenderError (a bound that tripped is named in it)."""
    try:
        template = compile_template(source)
        with limits.render_budget() as budget:
            rendered = template.render(**variables)
            budget.produced = 0
            budget.produce(len(rendered))
        return rendered
    except RecursionError:
        raise TemplateRenderError(label, "the template recursed too deeply") from None
    except Exception as exc:  # everything a template can do wrong, named with its line
        problem, line = _problem(exc)
        raise TemplateRenderError(label, problem, line) from exc


def model_template(request: TemplateRequest) -> tuple[str, str]:
    """The model's template text and label: ``tool_use`` when tools are given, else ``default``."""
    model = request.model
    if model is None:
        raise TemplateRenderError(
            "chat template 'jinja'",
            "no template text: give a template string or file, or render for a model",
        )
    templates = model.chat_template
    if templates is None:
        raise TemplateRenderError(f"chat template of model {model.name!r}",
                                  "the model has no chat_template")
    if isinstance(templates, str):
        return templates, f"chat template of model {model.name!r}"
    if request.tools is not None and "tool_use" in templates:
        name = "tool_use"
    elif "default" in templates:
        name = "default"
    else:
        raise TemplateRenderError(
            f"chat templates of model {model.name!r}",
            f"no 'default' template among {sorted(templates)}; pick one with options.template",
        )
    return templates[name], f"chat template {name!r} of model {model.name!r}"


class JinjaRenderer:
    """Renders Jinja chat templates.

    With ``source`` fixed (the built-ins), that text is always used; otherwise the request's
    ``source``, else the model's ``chat_template``.
    """

    def __init__(self, source: str | None = None, label: str = "template string") -> None:
        self.source = source
        self.label = label

    def __call__(self, request: TemplateRequest) -> str:
        if self.source is not None:
            source, label = self.source, self.label
        elif request.source is not None:
            source, label = request.source, self.label
        else:
            source, label = model_template(request)
        try:
            variables = template_variables(request)
        except (TypeError, ValueError) as exc:
            raise TemplateRenderError(label, str(exc)) from exc
        return render_source(source, label, variables)

    def __repr__(self) -> str:
        return f"JinjaRenderer({self.label})"
