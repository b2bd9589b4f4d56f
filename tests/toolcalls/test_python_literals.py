"""Python-literal arguments as models write them, wherever Python-style calls are parsed
(``pythonic`` bare and wrapped, ``lfm2``).

Derived from vllm-project/vllm tests/tool_parsers/test_lfm2_tool_parser.py: MULTILINE (a raw
newline inside a single-quoted string), NUL_BYTE, LEADING_ZERO (``month=07`` -> 7), SET_ARG
(``{'urgent', 'bug'}`` -> a list in written order), MORE_TYPES (True/False/None, nested dicts
and lists), NESTED_QUOTE, ESCAPED_STRING and "bad sibling call does not drop good calls"; and
tests/tool_parsers/test_pythonic_tool_parser.py for the bare list form.
"""

from __future__ import annotations

import warnings

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from toolcall_harness import Case, call, check_case, normalize, rebuild, rejected, run

from lmstream import ToolCall, ToolCallDelta

WRAPS = {
    "lfm2": ("<|tool_call_start|>[", "]<|tool_call_end|>"),
    "pythonic": ("[", "]"),
    "pythonic_wrapped": ("<|python_start|>[", "]<|python_end|>"),
}
CASES = [
    ("raw_newline", "exec(command='cat > f.py << EOF\nimport csv\nprint(1)\nEOF')",
     call("exec", {"command": "cat > f.py << EOF\nimport csv\nprint(1)\nEOF"})),
    ("raw_cr_and_nul", "exec(command='a\r\nb\x00c')", call("exec", {"command": "a\r\nb\x00c"})),
    ("leading_zeros", "set_date(month=07, day=05, year=2024, code=007, neg=-08, x=0.5, h=0x1f)",
     call("set_date", {"month": 7, "day": 5, "year": 2024, "code": 7, "neg": -8, "x": 0.5,
                       "h": 31})),
    ("zeros_inside_strings_stay", "f(a='007', b=[01, '08'], c={'k': 09})",
     call("f", {"a": "007", "b": [1, "08"], "c": {"k": 9}})),
    ("set_literal", "label(tags={'urgent', 'bug'})", call("label", {"tags": ["urgent", "bug"]})),
    ("tuples_nested", "f(p=(1, (2, 3)), q={'a': (True, None)}, r=False)",
     call("f", {"p": [1, [2, 3]], "q": {"a": [True, None]}, "r": False})),
    ("more_types", "register_user(name='John Doe', age=37, address={'city': 'San Francisco'}, "
     "role=None, passed_test=True, aliases=['John', 'Johnny'])",
     call("register_user", {"name": "John Doe", "age": 37, "address": {"city": "San Francisco"},
                            "role": None, "passed_test": True, "aliases": ["John", "Johnny"]})),
    ("nested_quote", "bash(command='sed -n '360,450p' /testbed/x.py')",
     call("bash", {"command": "sed -n '360,450p' /testbed/x.py"})),
    ("newline_and_stray_quote", "bash(command='echo 'a'\necho 007')",
     call("bash", {"command": "echo 'a'\necho 007"})),
    ("escaped_string", r"get_weather(city='Martha\'s Vineyard', metric='\"cool units\"')",
     call("get_weather", {"city": "Martha's Vineyard", "metric": '"cool units"'})),
    ("triple_quoted_untouched", "f(code='''a\nb''', n=010)", call("f", {"code": "a\nb", "n": 10})),
    ("invalid_escapes_kept", r"grep(pattern='\d+\.py', raw=r'\w', tab='a\tb')",
     call("grep", {"pattern": "\\d+\\.py", "raw": "\\w", "tab": "a\tb"})),
]


@pytest.mark.parametrize("form", sorted(WRAPS))
@pytest.mark.parametrize("case", CASES, ids=lambda c: c[0])
def test_python_literal_arguments(form: str, case: tuple[str, str, tuple[object, ...]]) -> None:
    name, body, expected = case
    fmt = form.removesuffix("_wrapped")
    opening, closing = WRAPS[form]
    check_case(fmt, Case(name, f"Ok. {opening}{body}{closing} done", [
        ("content", "Ok. "), expected, ("content", " done")]), every_split=False, random_count=20)


@pytest.mark.parametrize("fmt", ["lfm2", "pythonic"])
def test_bad_sibling_keeps_the_good_calls(fmt: str) -> None:
    # vllm-project/vllm tests/tool_parsers/test_lfm2_tool_parser.py
    # test_bad_sibling_call_does_not_drop_good_calls; with a fixed sibling in the same list
    opening, closing = WRAPS[fmt]
    text = f"{opening}f(month=07), bad(x=b'z'), g(s='a\nb')]{closing[1:]}"
    check_case(fmt, Case("siblings", text, [
        call("f", {"month": 7}), rejected("malformed", "bad(x=b'z')"), call("g", {"s": "a\nb"})]))


# -- property: Python values written as a model writes them come back, however cut ------------
KEYS = st.sampled_from(["a", "city", "n", "flag", "items"])
TEXT = st.text(st.sampled_from(list("ab 'xy\n\r,)]0:")), max_size=8)
SCALARS = st.one_of(st.integers(-999, 999), st.booleans(), st.none(), TEXT)
VALUES = st.recursive(SCALARS, lambda inner: st.one_of(
    st.lists(inner, max_size=3), st.dictionaries(KEYS, inner, max_size=3)), max_leaves=8)


def write(value: object, zeros: int) -> str:
    """``value`` in Python syntax as models write it: single quotes with raw newlines and
    unescaped inner quotes where a quote cannot end the string, integers zero-padded."""
    if isinstance(value, bool) or value is None:
        return repr(value)
    if isinstance(value, int):
        sign = "-" if value < 0 else ""
        return sign + "0" * zeros + str(abs(value))
    if isinstance(value, str):
        return "'" + value.replace("\\", "\\\\").replace("'", "\\'") + "'"
    if isinstance(value, list):
        return "[" + ", ".join(write(v, zeros) for v in value) + "]"
    assert isinstance(value, dict)
    return "{" + ", ".join(f"'{k}': {write(v, zeros)}" for k, v in value.items()) + "}"


@settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(args=st.dictionaries(KEYS, VALUES, min_size=1, max_size=3), zeros=st.integers(0, 2),
       fmt=st.sampled_from(["lfm2", "pythonic"]), data=st.data())
def test_python_literals_round_trip_however_cut(args: dict[str, object], zeros: int, fmt: str,
                                                data: st.DataObject) -> None:
    opening, closing = WRAPS[fmt]
    body = ", ".join(f"{k}={write(v, zeros)}" for k, v in args.items())
    text = f"{opening}f({body}){closing}"
    whole, parser = run(fmt, [text], deltas=True)
    got = [e for e in whole if isinstance(e, ToolCall)]
    assert [(c.name, c.arguments) for c in got] == [("f", args)], normalize(
        [e for e in whole if not isinstance(e, ToolCallDelta)])
    cuts = sorted(data.draw(st.sets(st.integers(1, len(text) - 1), max_size=12)))
    pieces = [text[a:b] for a, b in zip([0, *cuts], [*cuts, len(text)], strict=True)]
    events, parser = run(fmt, pieces, deltas=True)
    assert rebuild(events, parser.silent_text) == text
    assert normalize([e for e in events if not isinstance(e, ToolCallDelta)]) == normalize(
        [e for e in whole if not isinstance(e, ToolCallDelta)])


def test_invalid_escapes_warn_nothing() -> None:
    # Python 3.12 prints a SyntaxWarning for "\d" in a string (3.11: DeprecationWarning);
    # the parser reads such strings without one (and without touching the warning filters,
    # which other threads share)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        events, _ = run("pythonic", [r"[grep(pattern='\d+', path='C:\dir')]"])
    assert [e.arguments for e in events if isinstance(e, ToolCall)] == [
        {"pattern": "\\d+", "path": "C:\\dir"}]
