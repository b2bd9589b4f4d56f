"""Named built-in templates for models that ship none: fixed Jinja text in ``builtin/*.jinja``."""

from __future__ import annotations

import functools
from importlib import resources

from .renderer import JinjaRenderer

BUILTIN_NAMES = ("chatml", "gemma", "llama3", "mistral")
"""The built-in templates, each registered under its name (``options.template="chatml"``)."""


@functools.cache
def builtin_source(name: str) -> str:
    """The Jinja text of the built-in template ``name``."""
    if name not in BUILTIN_NAMES:
        raise KeyError(f"no built-in template {name!r}; built-ins: {', '.join(BUILTIN_NAMES)}")
    return resources.files(__package__).joinpath("builtin", f"{name}.jinja").read_text("utf-8")


def builtin_renderer(name: str) -> JinjaRenderer:
    """A renderer bound to the built-in template ``name``."""
    return JinjaRenderer(builtin_source(name), label=f"built-in template {name!r}")
