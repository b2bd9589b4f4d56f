"""Resource bounds for untrusted chat templates: time, output size, and what one operation builds.

A chat template is code from a downloaded model. The sandbox stops it from reaching Python
internals; these bounds stop it from exhausting the CPU or memory. Every render runs under a
``Budget`` (a deadline and counters, held in a context variable) and each bound that trips is a
``TemplateLimitError`` naming the bound. Defaults are in ``TemplateLimits``; change them
process-wide with ``set_template_limits``.
"""

from __future__ import annotations

import contextlib
import contextvars
import dataclasses
import re
import string
import time
from collections.abc import Iterator
from typing import Any

import jinja2


@dataclasses.dataclass(frozen=True)
class TemplateLimits:
    """The bounds one template render runs under (defaults shown)."""

    time_limit: float = 5.0
    """Seconds a render may take (checked at every loop iteration, macro call and call)."""
    max_output_chars: int = 8_000_000
    """Characters a render may produce in all, counting text captured by ``{% set %}`` blocks."""
    max_sequence_length: int = 1_000_000
    """Length of a string or list one operation (``*``, ``+``, ``%``, ``join``, padding) builds."""
    max_items: int = 100_000
    """Items one ``range``, ``|batch`` or ``|slice`` may produce."""
    max_format_length: int = 256
    """Length of a ``strftime_now`` format string."""

    def __post_init__(self) -> None:
        if not (isinstance(self.time_limit, (int, float)) and 0 < self.time_limit < float("inf")):
            raise ValueError(f"time_limit must be a positive finite number, got {self.time_limit!r}")
        for name in ("max_output_chars", "max_sequence_length", "max_items", "max_format_length"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(f"{name} must be a positive int, got {value!r}")


class TemplateLimitError(jinja2.exceptions.TemplateError):
    """A render exceeded one of the bounds in TemplateLimits (the message names it)."""


_limits = TemplateLimits()


def get_template_limits() -> TemplateLimits:
    """The bounds renders run under now."""
    return _limits


def set_template_limits(limits: TemplateLimits | None = None, **changes: Any) -> TemplateLimits:
    """Set the process-wide bounds (``TemplateLimits`` or field changes); returns the old ones."""
    global _limits
    old = _limits
    _limits = dataclasses.replace(limits or old, **changes)
    return old


@dataclasses.dataclass
class Budget:
    """One render's deadline and output counter."""

    limits: TemplateLimits
    deadline: float
    produced: int = 0

    def tick(self) -> None:
        """Raise once the render has run past its time limit."""
        if time.monotonic() > self.deadline:
            raise TemplateLimitError(
                f"template time limit exceeded ({self.limits.time_limit:g} s; "
                "lmstream_templates.set_template_limits(time_limit=...))")

    def produce(self, count: int) -> None:
        """Count produced characters; raise past max_output_chars."""
        self.produced += count
        if self.produced > self.limits.max_output_chars:
            raise TemplateLimitError(
                f"template output limit exceeded ({self.limits.max_output_chars} characters; "
                "lmstream_templates.set_template_limits(max_output_chars=...))")


_BUDGET: contextvars.ContextVar[Budget | None] = contextvars.ContextVar("template_budget",
                                                                        default=None)


@contextlib.contextmanager
def render_budget() -> Iterator[Budget]:
    """Run a render under a fresh budget from the current limits."""
    limits = _limits
    budget = Budget(limits, time.monotonic() + limits.time_limit)
    token = _BUDGET.set(budget)
    try:
        yield budget
    finally:
        _BUDGET.reset(token)


def tick() -> None:
    """Check the current render's deadline (a no-op outside a render)."""
    budget = _BUDGET.get()
    if budget is not None:
        budget.tick()


def produce(count: int) -> None:
    """Count characters the current render produced (a no-op outside a render)."""
    budget = _BUDGET.get()
    if budget is not None:
        budget.produce(count)


def current_limits() -> TemplateLimits:
    """The limits of the render in progress (else the process-wide ones)."""
    budget = _BUDGET.get()
    return budget.limits if budget is not None else _limits


def check_length(length: int, what: str) -> None:
    """Refuse an operation that would build a string or list longer than max_sequence_length."""
    bound = current_limits().max_sequence_length
    if length > bound:
        raise TemplateLimitError(
            f"{what} would build a sequence of length {length}, over the template limit ({bound}; "
            "lmstream_templates.set_template_limits(max_sequence_length=...))")


def check_items(count: int, what: str) -> None:
    """Refuse an operation that would produce more than max_items items."""
    bound = current_limits().max_items
    if count > bound:
        raise TemplateLimitError(f"{what} would produce {count} items, over the template item "
                                 f"limit ({bound}; set_template_limits(max_items=...))")


def _len(value: Any) -> int:
    try:
        return len(value)
    except TypeError:
        return 0


def text_size(value: Any, bound: int) -> int:
    """About how long ``str(value)`` would be, stopping as soon as it passes ``bound`` (so a
    list holding the same long string 100,000 times costs two steps, not 100 GB)."""
    total = 0
    stack = [value]
    while stack and total <= bound:
        item = stack.pop()
        if isinstance(item, str):
            total += len(item) + 2
        elif isinstance(item, dict):
            total += 2 + 2 * len(item)
            stack.extend(item.keys())
            stack.extend(item.values())
        elif isinstance(item, (list, tuple, set, frozenset)):
            total += 2 + 2 * len(item)
            stack.extend(item)
        else:
            total += 24
    return total


def check_text_size(value: Any, what: str) -> None:
    """Refuse turning ``value`` into text when that text would pass max_sequence_length."""
    if isinstance(value, str):
        check_length(len(value), what)
    else:
        bound = current_limits().max_sequence_length
        check_length(text_size(value, bound), what)


def check_binop(operator: str, left: Any, right: Any) -> None:
    """Refuse ``*``, ``+``, ``%`` and ``**`` whose result would be over a bound."""
    sequence = (str, list, tuple)
    if operator == "+" and type(left) is str and type(right) is str:  # the common case
        check_length(len(left) + len(right), "concatenation")
    elif operator == "*":
        for seq, count in ((left, right), (right, left)):
            if isinstance(seq, sequence) and isinstance(count, int):
                check_length(len(seq) * max(count, 0), "repetition")
                if count > 0 and not isinstance(seq, str):
                    bound = current_limits().max_sequence_length
                    check_length(text_size(seq, bound) * count, "list repetition (as text)")
    elif operator == "+" and isinstance(left, sequence) and isinstance(right, sequence):
        check_length(len(left) + len(right), "concatenation")
        if not isinstance(left, str):
            check_text_size([left, right], "list concatenation")
    elif operator == "%" and isinstance(left, str):
        check_printf_format(left)
        values = right.values() if isinstance(right, dict) else \
            right if isinstance(right, tuple) else (right,)
        bound = current_limits().max_sequence_length
        biggest = max((text_size(v, bound) for v in values), default=0)
        check_length(len(left) + left.count("%") * biggest, "string formatting")
    elif operator == "**" and isinstance(left, int) and isinstance(right, int) \
            and abs(left) > 1 and right > 0 and right * abs(left).bit_length() > 64 * 1024:
        raise TemplateLimitError(f"{left} ** {right} is too large a number for a template")


_PRINTF = re.compile(r"%[-#0 +]*(\*|\d+)?(?:\.(\*|\d+))?")
_NUMBER = re.compile(r"\d+")


def check_printf_format(fmt: str) -> None:
    """Refuse ``%`` widths or precisions over max_sequence_length (and ``*`` widths)."""
    for match in _PRINTF.finditer(fmt):
        for group in match.groups():
            if group == "*":
                raise TemplateLimitError("'*' widths in % formatting are not allowed in templates")
            if group is not None:
                check_length(int(group), "a % format width")


def check_format_call(fmt: str, args: tuple[Any, ...], kwargs: dict[str, Any]) -> None:
    """Refuse ``str.format`` calls whose result would pass max_sequence_length."""
    bound = current_limits().max_sequence_length
    values = list(args) + list(kwargs.values())
    if len(values) == 1 and isinstance(values[0], dict):  # format_map
        values = list(values[0].values())
    biggest = max((text_size(v, bound) for v in values), default=0)
    check_length(len(fmt) + fmt.count("{") * biggest, "str.format")


def check_format_spec(fmt: str) -> None:
    """Refuse ``str.format`` field widths over max_sequence_length (and nested width fields)."""
    try:
        fields = list(string.Formatter().parse(fmt))
    except ValueError:
        return  # str.format will raise its own error
    for _, _, spec, _ in fields:
        if spec:
            if "{" in spec:
                raise TemplateLimitError("nested format fields are not allowed in templates")
            for number in _NUMBER.findall(spec):
                check_length(int(number), "a format width")


_WIDTH_METHODS = {"ljust", "rjust", "center", "zfill"}


def check_call(obj: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> None:
    """Refuse str method calls whose result would be over max_sequence_length."""
    owner = getattr(obj, "__self__", None)
    name = getattr(obj, "__name__", "")
    if isinstance(owner, str):
        if name in _WIDTH_METHODS and args and isinstance(args[0], int):
            check_length(args[0], f"str.{name}")
        elif name == "expandtabs":
            size = args[0] if args else kwargs.get("tabsize", 8)
            if isinstance(size, int):
                check_length(owner.count("\t") * size + len(owner), "str.expandtabs")
        elif name == "replace" and len(args) >= 2 and all(isinstance(a, str) for a in args[:2]):
            check_length(replaced_length(owner, args[0], args[1]), "str.replace")
        elif name == "join" and args:
            check_joined(owner, args[0])


def replaced_length(text: str, old: str, new: str) -> int:
    """An upper bound of ``len(text.replace(old, new))``."""
    if not old:
        return len(text) + (len(text) + 1) * len(new)
    return len(text) + text.count(old) * max(len(new) - len(old), 0)


def check_joined(separator: str, items: Any) -> None:
    """Refuse a join whose result would be over max_sequence_length."""
    if isinstance(items, (list, tuple)):
        bound = current_limits().max_sequence_length
        total = len(separator) * max(len(items) - 1, 0)
        for item in items:
            total += text_size(item, bound)
            if total > bound:
                break
        check_length(total, "join")
