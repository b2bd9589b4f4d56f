"""lmstream hook implementations of the built-in chat-template plugin (entry point ``templates``)."""

from __future__ import annotations

from collections.abc import Callable

import lmstream
from lmstream import ModelInfo
from lmstream.plugin import ChatTemplateRenderer

from .builtins import BUILTIN_NAMES, builtin_renderer
from .renderer import JinjaRenderer
from .resolve import resolve_template_name


@lmstream.hookimpl
def lmstream_register_chat_templates(register: Callable[[str, ChatTemplateRenderer], None]) -> None:
    """``jinja`` (the model's own or a given template) and the named built-ins."""
    register("jinja", JinjaRenderer())
    for name in BUILTIN_NAMES:
        register(name, builtin_renderer(name))


@lmstream.hookimpl(trylast=True)
def lmstream_resolve_chat_template(model: ModelInfo) -> str | None:
    """The model's own template, else a built-in for its family; third-party resolvers go first."""
    return resolve_template_name(model)
