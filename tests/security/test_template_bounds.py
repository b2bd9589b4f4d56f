"""Chat templates are untrusted code: every render is bounded in time, output and the size of
what one operation builds; exceeding a bound is a TemplateError naming it."""

from __future__ import annotations

import time
import tracemalloc
from collections.abc import Iterator
from typing import Any

import pytest

from lmstream import TemplateError
from lmstream.pipeline import render_chat_template

limits = pytest.importorskip("lmstream_templates.limits")

MESSAGES = [{"role": "user", "content": "hi"}]
PEAK_BYTES = 64 * 1024 * 1024

SIZE_BOMBS = {
    "lipsum": ("{{ lipsum(10**6) }}", "'lipsum' is undefined"),
    "string repetition": ("{{ 'x' * 2*10**9 }}", "repetition"),
    "list repetition": ("{{ ([1] * 10**8)|length }}", "repetition"),
    "strftime format": ("{{ strftime_now('%Y' * 100000) }}", "strftime_now format"),
    "doubling": ("{% set ns = namespace(s='x') %}{% for i in range(60) %}"
                 "{% set ns.s = ns.s + ns.s %}{% endfor %}{{ ns.s|length }}", "concatenation"),
    "printf width": ("{{ '%999999999d' % 1 }}", "% format width"),
    "printf star": ("{{ '%*d' % (999999999, 1) }}", "'\\*' widths"),
    "format width": ("{{ '{:>999999999}'.format(1) }}", "format width"),
    "nested format": ("{{ '{:>{w}}'.format(1, w=999999999) }}", "nested format"),
    "ljust": ("{{ 'a'.ljust(10**9) }}", "str.ljust"),
    "center filter": ("{{ 'a'|center(10**9) }}", r"\|center"),
    "replace": ("{{ ('x'*100000).replace('', 'y'*100000) }}", "str.replace"),
    "replace filter": ("{{ ('x'*100000)|replace('', 'y'*100000) }}", r"\|replace"),
    "join filter": ("{% set big = 'x' * 600000 %}{{ [big, big]|join }}", "join"),
    "join method": ("{% set big = 'x' * 600000 %}{{ ''.join([big, big]) }}", "join"),
    "slice": ("{{ [1]|slice(10**9)|list|length }}", r"\|slice"),
    "batch": ("{{ [1]|batch(10**9, 0)|list|length }}", r"\|batch"),
    "range": ("{{ range(10**9)|length }}", r"range\(\)"),
    "indent": ("{{ ('\n'*100000)|indent(100000) }}", r"\|indent"),
    "power": ("{% set n = 10**9 %}{{ 2 ** n }}", "too large a number"),
    "tilde doubling": ("{% set ns = namespace(s='x') %}{% for i in range(60) %}"
                       "{% set ns.s = ns.s ~ ns.s %}{% endfor %}{{ ns.s|length }}", r"concatenation \(~\)"),
    "printed references": ("{% set big = 'x' * 1000000 %}{{ [big] * 100000 }}", "list repetition"),
    "printed dict": ("{% set big = 'x' * 1000000 %}{{ dict.fromkeys(range(1000), big) }}",
                     "printing a value"),
    "string filter": ("{% set big = 'x' * 1000000 %}{{ (dict.fromkeys(range(1000), big)|string)"
                      "|length }}", "converting a value to text"),
    "tojson refs": ("{% set big = 'x' * 1000000 %}{{ dict.fromkeys(range(1000), big)|tojson }}",
                    "tojson"),
    "tojson indent": ("{{ range(1000)|list|tojson(indent=100000) }}", "tojson"),
    "format repeat": ("{% set big = 'x' * 1000000 %}{{ ('{0}' * 1000).format(big) }}",
                      "str.format"),
    "printf mapping": ("{% set big = 'x' * 1000000 %}{{ ('%(a)s' * 1000) % {'a': big} }}",
                       "string formatting"),
    "list append refs": ("{% set big = 'x' * 1000000 %}{% set ns = namespace(l=[]) %}"
                         "{% for i in range(100000) %}{% set ns.l = ns.l + [big] %}{% endfor %}"
                         "{{ ns.l|length }}", "list concatenation"),
    "sort a long string": ("{{ ('x' * 900000)|sort|length }}", "filter over a collection"),
    "captured output": ("{% set s %}{% for i in range(100000) %}{{ 'x'*1000 }}{% endfor %}"
                        "{% endset %}{{ s|length }}", "output limit"),
}

TIME_BOMBS = {
    "nested loops": "{% for i in range(100000) %}{% for j in range(100000) %}{% endfor %}"
                    "{% endfor %}",
    "exponential macro": "{% macro f(n) %}{% if n > 0 %}{{ f(n-1) }}{{ f(n-1) }}{% endif %}"
                         "{% endmacro %}{{ f(60) }}",
    "call block": "{% macro m() %}{{ caller() }}{{ caller() }}{% endmacro %}"
                  "{% for i in range(100000) %}{% call m() %}{% for j in range(100000) %}"
                  "{% endfor %}{% endcall %}{% endfor %}",
    "loop filter": "{% for i in range(100000) %}{% for j in range(100000) if j < 0 %}"
                   "{% endfor %}{% endfor %}",
}


@pytest.fixture
def short_limit() -> Iterator[None]:
    old = limits.set_template_limits(time_limit=0.5)
    yield
    limits.set_template_limits(old)


def measured(source: str) -> tuple[BaseException | None, float, int]:
    tracemalloc.start()
    started = time.monotonic()
    try:
        render_chat_template(source, MESSAGES)
        error = None
    except TemplateError as exc:
        error = exc
    elapsed = time.monotonic() - started
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    return error, elapsed, peak


@pytest.mark.parametrize("name", sorted(SIZE_BOMBS))
def test_size_bombs_are_refused_quickly_in_bounded_memory(name: str) -> None:
    source, match = SIZE_BOMBS[name]
    error, elapsed, peak = measured(source)
    assert error is not None, f"{name} rendered"
    assert __import__("re").search(match, str(error)), str(error)
    assert elapsed < 3
    assert peak < PEAK_BYTES


@pytest.mark.parametrize("name", sorted(TIME_BOMBS))
def test_time_bombs_stop_at_the_time_limit(name: str, short_limit: None) -> None:
    error, elapsed, _ = measured(TIME_BOMBS[name])
    assert error is not None and "time limit exceeded (0.5 s" in str(error)
    assert elapsed < 2


def test_limits_are_configurable_and_checked() -> None:
    old = limits.set_template_limits(max_sequence_length=10)
    try:
        with pytest.raises(TemplateError, match="over the template limit \\(10;"):
            render_chat_template("{{ 'x' * 11 }}", MESSAGES)
        assert render_chat_template("{{ 'x' * 10 }}", MESSAGES) == "x" * 10
    finally:
        limits.set_template_limits(old)
    for bad in ({"time_limit": 0}, {"time_limit": float("inf")}, {"max_items": True},
                {"max_output_chars": -1}):
        with pytest.raises(ValueError, match=next(iter(bad))):
            limits.TemplateLimits(**bad)


def test_ordinary_templates_are_unaffected() -> None:
    source = ("{% for m in messages %}{{ '-' * 3 }}{{ m.content|center(9) }}{{ '%-4s|' % 'ab' }}"
              "{{ '{:>5}'.format(m.role) }}{% endfor %}{{ strftime_now('%d %b %Y')|length }}")
    assert render_chat_template(source, MESSAGES) == "---" + "hi".center(9) + "ab  | user11"


def test_the_deadline_cannot_be_shadowed(short_limit: None) -> None:
    """A template that defines names or macros of its own still runs under the deadline."""
    source = ("{% set tick = none %}{% macro tick() %}{% endmacro %}"
              + TIME_BOMBS["nested loops"])
    error, elapsed, _ = measured(source)
    assert error is not None and "time limit" in str(error)
    assert elapsed < 2


ATOMS = ["'ab'", "'x' * 1000", "[1, 2]", "[big]", "big", "10", "1000", "100000", "none",
         "range(1000)", "dict.fromkeys(range(100), big)", "messages"]
BINARY = ["*", "+", "~", "%"]
FILTERS = ["|join", "|list", "|string", "|tojson", "|center(1000)", "|batch(3)", "|length",
           "|reverse", "|indent(8)", "|format(big)", "|replace('', big)", "|sort"]


def expressions() -> Any:
    from hypothesis import strategies as st

    return st.recursive(
        st.sampled_from(ATOMS),
        lambda inner: st.one_of(
            st.builds(lambda a, op, b: f"({a} {op} {b})", inner, st.sampled_from(BINARY), inner),
            st.builds(lambda a, f: f"({a}{f})", inner, st.sampled_from(FILTERS)),
        ),
        max_leaves=6,
    )


def test_random_expressions_stay_bounded(short_limit: None) -> None:
    """Any mix of the operations that build text either renders small or trips a bound."""
    from hypothesis import HealthCheck, given, settings

    @settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
    @given(expression=expressions(), loop=st_booleans())
    def check(expression: str, loop: bool) -> None:
        body = f"{{{{ {expression} }}}}"
        if loop:
            body = f"{{% for i in range(50) %}}{body}{{% endfor %}}"
        started = time.monotonic()
        try:  # no tracemalloc here: it slows big C-level operations (sorting 900k items) 50x
            render_chat_template("{% set big = 'y' * 900000 %}" + body, MESSAGES)
        except TemplateError:
            pass
        assert time.monotonic() - started < 3

    check()


def st_booleans() -> Any:
    from hypothesis import strategies as st

    return st.booleans()
