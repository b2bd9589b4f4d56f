"""The sandboxed Jinja2 environment chat templates run in, with transformers' globals and filters.

Chat templates ship with downloaded models, so they are untrusted code. They run in jinja2's
``ImmutableSandboxedEnvironment`` with hardening on top: where jinja2 would quietly
render an unsafe attribute (``''.__class__``) as an empty string, we raise, so a probing
template fails loudly instead of rendering something subtly different; and every render is
bounded in time and size (``limits.py``): loops, macros and calls check a deadline, binary
operators, padding, joins and formats check the size of what they build, there is no
``lipsum``, and ``range``/``|batch``/``|slice`` are capped.
"""

from __future__ import annotations

import functools
import json
from collections.abc import Callable
from datetime import datetime
from typing import Any, NoReturn

import jinja2
import jinja2.ext
import jinja2.nodes
import jinja2.parser
import jinja2.utils
import jinja2.visitor
from jinja2.exceptions import SecurityError
from jinja2.sandbox import ImmutableSandboxedEnvironment

from . import limits
from .limits import TemplateLimitError


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
    """``strftime_now(fmt)`` global: the local time formatted (Llama 3.x templates print a date).
    The format may be at most ``max_format_length`` characters."""
    if not isinstance(format, str):
        raise TypeError(f"strftime_now() needs a format string, got {type(format).__name__}")
    bound = limits.current_limits().max_format_length
    if len(format) > bound:
        raise TemplateLimitError(f"strftime_now format is longer than the limit ({bound} "
                                 "characters; set_template_limits(max_format_length=...))")
    return datetime.now().strftime(format)


def bounded_range(*args: int) -> range:
    """``range`` with at most ``max_items`` items."""
    numbers = range(*args)
    limits.check_items(len(numbers), "range()")
    return numbers


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


class LimitsExtension(jinja2.ext.Extension):
    """Holds the deadline check that ``StrictSandbox._parse`` plants in every loop and macro
    body (reached as an extension attribute, which no template can shadow)."""

    @property
    def deadline(self) -> None:
        """Reading it checks the render's deadline (a plain attribute read in the compiled
        template: no sandboxed call, so a loop iteration costs almost nothing more)."""
        limits.tick()

    def concat(self, *values: Any) -> str:
        """The ``~`` operator, once the joined text is known to stay within the limits."""
        for value in values:
            if not isinstance(value, str):
                limits.check_text_size(value, "concatenation (~)")
        pieces = [value if isinstance(value, str) else str(value) for value in values]
        limits.check_length(sum(map(len, pieces)), "concatenation (~)")
        return "".join(pieces)


class _Bounds(jinja2.visitor.NodeTransformer):
    """Plants a deadline check at the top of every loop and macro body and routes ``~``
    through ``LimitsExtension.concat`` (jinja compiles it to a join no sandbox hook sees)."""

    def visit_Concat(self, node: jinja2.nodes.Concat) -> jinja2.nodes.Node:
        self.generic_visit(node)
        method = jinja2.nodes.ExtensionAttribute(LimitsExtension.identifier, "concat")
        return jinja2.nodes.Call(method, node.nodes, [], None, None).set_lineno(node.lineno)

    def generic_visit(self, node: jinja2.nodes.Node, *args: Any, **kwargs: Any) -> Any:
        result = super().generic_visit(node, *args, **kwargs)
        if isinstance(node, (jinja2.nodes.For, jinja2.nodes.Macro, jinja2.nodes.CallBlock)):
            node.body.insert(0, _tick_node())
        return result


def _tick_node() -> jinja2.nodes.Stmt:
    return jinja2.nodes.ExprStmt(
        jinja2.nodes.ExtensionAttribute(LimitsExtension.identifier, "deadline"))


def _bounded_filter(check: Callable[..., None], original: Callable[..., Any]) -> Callable[..., Any]:
    """A filter that runs ``check(value, *args)`` before the original (without the context
    argument jinja passes first to context-taking filters)."""
    skip = 1 if getattr(original, "jinja_pass_arg", None) is not None else 0

    @functools.wraps(original)
    def bounded(*args: Any, **kwargs: Any) -> Any:
        check(*args[skip:], **kwargs)
        return original(*args, **kwargs)
    return bounded


def _check_center(value: Any, width: int = 80) -> None:
    if isinstance(width, int):
        limits.check_length(width, "|center")


def _check_indent(value: Any, width: Any = 4, *args: Any, **kwargs: Any) -> None:
    if isinstance(width, int) and isinstance(value, str):
        limits.check_length(len(value) + (value.count("\n") + 1) * width, "|indent")
    elif isinstance(width, str) and isinstance(value, str):
        limits.check_length(len(value) + (value.count("\n") + 1) * len(width), "|indent")


def _check_join(value: Any, d: str = "", *args: Any, **kwargs: Any) -> None:
    if isinstance(d, str):
        limits.check_joined(d, value)


def _check_replace(value: Any, old: Any = "", new: Any = "", *args: Any,
                   **kwargs: Any) -> None:
    if isinstance(value, str) and isinstance(old, str) and isinstance(new, str):
        limits.check_length(limits.replaced_length(value, old, new), "|replace")


def _check_slices(value: Any, count: Any = 1, *args: Any, **kwargs: Any) -> None:
    if isinstance(count, int):
        limits.check_items(count, "|slice")


def _check_batch(value: Any, count: Any = 1, *args: Any, **kwargs: Any) -> None:
    if isinstance(count, int):
        limits.check_items(count, "|batch")


def _check_format(value: Any, *args: Any, **kwargs: Any) -> None:
    if isinstance(value, str):
        limits.check_printf_format(value)
        limits.check_binop("%", value, kwargs if kwargs else tuple(args))


def _check_sized(value: Any, *args: Any, **kwargs: Any) -> None:
    try:
        count = len(value)
    except TypeError:
        return
    limits.check_items(count, "a filter over a collection")


def _check_text(value: Any, *args: Any, **kwargs: Any) -> None:
    limits.check_text_size(value, "converting a value to text")


def _check_tojson(value: Any, *args: Any, **kwargs: Any) -> None:
    indent = kwargs.get("indent", args[1] if len(args) > 1 else None)
    width = indent if isinstance(indent, int) and not isinstance(indent, bool) else \
        len(indent) if isinstance(indent, str) else 0
    limits.check_length(width, "tojson indent")
    bound = limits.current_limits().max_sequence_length
    limits.check_length(limits.text_size(value, bound) * (1 + max(width, 0)), "tojson")


class StrictSandbox(ImmutableSandboxedEnvironment):
    """The immutable sandbox, except that touching an unsafe attribute raises at once.

    jinja2 returns an Undefined for an unsafe attribute that only raises when used further;
    printed, it is an empty string, so ``{{ ''.__class__ }}`` or ``'{0.__class__}'.format(x)``
    would render silently. Here each raises ``SecurityError`` naming the attribute.
    """

    intercepted_binops = frozenset({"*", "+", "%", "**"})

    def unsafe_undefined(self, obj: Any, attribute: str) -> jinja2.Undefined:
        raise SecurityError(
            f"access to attribute {attribute!r} of {type(obj).__name__!r} object is unsafe"
        )

    def call_binop(self, context: jinja2.runtime.Context, operator: str, left: Any,
                   right: Any) -> Any:
        """Operators, once their result is known to stay within the limits."""
        limits.check_binop(operator, left, right)
        return self.binop_table[operator](left, right)

    def call(__self, __context: jinja2.runtime.Context, __obj: Any,
             *args: Any, **kwargs: Any) -> Any:
        """Every call from a template checks the deadline and the size of what it builds."""
        limits.tick()
        limits.check_call(__obj, args, kwargs)
        return super().call(__context, __obj, *args, **kwargs)

    def wrap_str_format(self, value: Any) -> Callable[..., str] | None:
        """``str.format`` with field widths bounded like the other operations."""
        wrapper = super().wrap_str_format(value)
        if wrapper is None:
            return None
        fmt = value.__self__
        limits.check_format_spec(fmt)

        @functools.wraps(wrapper)
        def bounded(*args: Any, **kwargs: Any) -> str:
            limits.check_format_call(fmt, args, kwargs)
            return wrapper(*args, **kwargs)
        return bounded

    def _parse(self, source: str, name: str | None,
               filename: str | None) -> jinja2.nodes.Template:
        """Parse, then bound the tree (``_Bounds``): deadline checks in loops and macros,
        ``~`` through a size check."""
        tree = super()._parse(source, name, filename)
        bounded: jinja2.nodes.Template = _Bounds().visit(tree)
        return bounded


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


def _count_output(value: Any) -> Any:
    """``finalize``: count every printed value against the render's output limit."""
    if not isinstance(value, str):
        limits.check_text_size(value, "printing a value")
    text = value if isinstance(value, str) else str(value)
    limits.produce(len(text))
    return text


def build_environment() -> StrictSandbox:
    """A sandbox configured as transformers configures its chat-template environment."""
    check_jinja2_version(jinja2.__version__)
    env = StrictSandbox(
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=False,  # transformers leaves jinja2's default
        extensions=[jinja2.ext.loopcontrols, GenerationTag, LimitsExtension],
        finalize=_count_output,
    )
    env.globals.pop("lipsum", None)
    env.globals["range"] = bounded_range
    for name, check in (("center", _check_center), ("indent", _check_indent),
                        ("join", _check_join), ("replace", _check_replace),
                        ("slice", _check_slices), ("batch", _check_batch),
                        ("format", _check_format), ("string", _check_text),
                        ("pprint", _check_text), ("sort", _check_sized),
                        ("unique", _check_sized), ("list", _check_sized),
                        ("dictsort", _check_sized), ("groupby", _check_sized)):
        env.filters[name] = _bounded_filter(check, env.filters[name])
    env.filters["tojson"] = _bounded_filter(_check_tojson, tojson)
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
