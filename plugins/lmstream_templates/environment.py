"""The sandboxed Jinja2 environment chat templates run in, with transformers' globals and filters.

Chat templates ship with downloaded models, so they are untrusted code. They run in jinja2's
``ImmutableSandboxedEnvironment`` with one hardening on top: where jinja2 would quietly
render an unsafe attribute (``''.__class__``) as an empty string, we raise, so a probing
template fails loudly instead of rendering something subtly different.
"""

from __future__ import annotations

import functools
import json
from datetime import datetime
from typing import Any, NoReturn

import jinja2
import jinja2.ext
import jinja2.nodes
import jinja2.parser
import jinja2.utils
from jinja2.exceptions import SecurityError
from jinja2.sandbox import ImmutableSandboxedEnvironment


class TemplateRaised(jinja2.exceptions.TemplateError):
    """A template called ``raise_exception(message)``; the message is the template's own."""


def raise_exception(message: str) -> NoReturn:
    """``raise_exception(msg)`` global: templates use it to refuse inputs they cannot render."""
    raise TemplateRaised(message)


def tojson(value: Any, ensure_ascii: bool = False, indent: int | str | None = None,
           separators: tuple[str, str] | None = None, sort_keys: bool = False) -> str:
    """``tojson`` filter with transformers' semantics: plain ``json.dumps``, no HTML escaping."""
    return json.dumps(value, ensure_ascii=ensure_ascii, indent=indent, separators=separators,
                      sort_keys=sort_keys)


def strftime_now(format: str) -> str:
    """``strftime_now(fmt)`` global: the local time formatted (Llama 3.x templates print a date)."""
    return datetime.now().strftime(format)


class TemplateDict:
    """The ``dict`` global: builds dicts but exposes nothing of the ``dict`` type itself."""

    def __call__(self, *args: Any, **kwargs: Any) -> dict[Any, Any]:
        return dict(*args, **kwargs)

    def fromkeys(self, *args: Any, **kwargs: Any) -> dict[Any, Any]:
        """``dict.fromkeys`` for templates."""
        return dict.fromkeys(*args, **kwargs)


class TemplateNamespace(jinja2.utils.Namespace):
    """``namespace()`` that refuses underscore names, so no dunder can be planted on it."""

    def __init__(*args: Any, **kwargs: Any) -> None:  # same signature trick as jinja2's Namespace
        self, rest = args[0], args[1:]
        attrs = dict(*rest, **kwargs)
        for name in attrs:
            TemplateNamespace._check_name(name)
        jinja2.utils.Namespace.__init__(self, attrs)

    def __setitem__(self, name: str, value: Any) -> None:
        TemplateNamespace._check_name(name)
        jinja2.utils.Namespace.__setitem__(self, name, value)

    @staticmethod
    def _check_name(name: object) -> None:
        if isinstance(name, str) and name.startswith("_"):
            raise SecurityError(f"namespace attribute {name!r} is not allowed (leading underscore)")


class GenerationTag(jinja2.ext.Extension):
    """``{% generation %}...{% endgeneration %}``: marks assistant text for training masks.

    transformers accepts the tag; rendering for inference keeps the body unchanged.
    """

    tags = {"generation"}  # noqa: RUF012 (jinja2's own class attribute)

    def parse(self, parser: jinja2.parser.Parser) -> jinja2.nodes.Node:
        lineno = next(parser.stream).lineno
        body = parser.parse_statements(("name:endgeneration",), drop_needle=True)
        return jinja2.nodes.Scope(body).set_lineno(lineno)


class StrictSandbox(ImmutableSandboxedEnvironment):
    """The immutable sandbox, except that touching an unsafe attribute raises at once.

    jinja2 returns an Undefined for an unsafe attribute that only raises when used further;
    printed, it is an empty string, so ``{{ ''.__class__ }}`` or ``'{0.__class__}'.format(x)``
    would render silently. Here each raises ``SecurityError`` naming the attribute.
    """

    def unsafe_undefined(self, obj: Any, attribute: str) -> jinja2.Undefined:
        raise SecurityError(
            f"access to attribute {attribute!r} of {type(obj).__name__!r} object is unsafe"
        )


MIN_JINJA2 = (3, 1, 6)
"""Older jinja2 releases have known sandbox escapes (e.g. through ``|attr`` and ``format``)."""


def check_jinja2_version(version: str) -> None:
    """Refuse a jinja2 older than MIN_JINJA2: untrusted templates need its sandbox fixes."""
    parts = []
    for piece in version.split(".")[:3]:
        digits = "".join(ch for ch in piece if ch.isdigit()) or "0"
        parts.append(int(digits))
    if tuple(parts) < MIN_JINJA2:
        wanted = ".".join(map(str, MIN_JINJA2))
        raise ImportError(
            f"lmstream's chat templates need jinja2>={wanted} (installed: {version}); older "
            "versions have known sandbox escapes. Upgrade with: pip install -U jinja2"
        )


def build_environment() -> StrictSandbox:
    """A sandbox configured as transformers configures its chat-template environment."""
    check_jinja2_version(jinja2.__version__)
    env = StrictSandbox(
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=False,  # transformers leaves jinja2's default
        extensions=[jinja2.ext.loopcontrols, GenerationTag],
    )
    env.filters["tojson"] = tojson
    env.globals["raise_exception"] = raise_exception
    env.globals["strftime_now"] = strftime_now
    env.globals["dict"] = TemplateDict()
    env.globals["namespace"] = TemplateNamespace
    return env


_ENVIRONMENT = build_environment()


@functools.lru_cache(maxsize=64)
def compile_template(source: str) -> jinja2.Template:
    """Compile ``source`` once; later renders of the same text reuse the compiled template.

    Raises ``jinja2.TemplateSyntaxError`` on bad syntax (callers turn it into TemplateError).
    """
    return _ENVIRONMENT.from_string(source)
