"""Fuzz of the constraint engine over hostile schema and grammar shapes (long ``$ref`` chains,
deep nesting, wide alternations, recursive and self refs, huge enums, ambiguous grammars),
compiled and run in a SUBPROCESS (``fuzz_worker``): no example may kill it by a signal or
hang it, and each ends in success or a clean error (ValueError at creation, or an error that
ends the stream). Bounded: a fixed number of examples, each answered within a timeout."""

from __future__ import annotations

import json
import os
import select
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

pytest.importorskip("llguidance")

WORKER = Path(__file__).with_name("fuzz_worker.py")
ANSWER_TIMEOUT_S = 120.0
"""Longest wait for one verdict (generous for a loaded machine; a hang exceeds any bound)."""
CLEAN = {"refused", "error", "stream_error", "ok"}


class Worker:
    """The fuzz subprocess; restarted after a crash so later examples still run."""

    def __init__(self) -> None:
        self.process: subprocess.Popen[str] | None = None
        self.started = 0

    def _start(self) -> subprocess.Popen[str]:
        env = {**os.environ, "PYTHONPATH": os.pathsep.join(p for p in sys.path if p)}
        process = subprocess.Popen([sys.executable, str(WORKER)], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                   stderr=subprocess.DEVNULL, text=True, env=env)
        self.process, self.started = process, self.started + 1
        assert self._read(process)["verdict"] == "ready"
        return process

    def _read(self, process: subprocess.Popen[str]) -> dict[str, Any]:
        assert process.stdout is not None
        ready, _, _ = select.select([process.stdout], [], [], ANSWER_TIMEOUT_S)
        if not ready:
            process.kill()
            process.wait()
            self.process = None
            return {"verdict": "hang"}
        line = process.stdout.readline()
        if not line:
            code = process.wait()
            self.process = None
            return {"verdict": "crash", "returncode": code}
        answer: dict[str, Any] = json.loads(line)
        return answer

    def ask(self, request: dict[str, Any]) -> dict[str, Any]:
        """The worker's verdict on one request (``crash`` / ``hang`` when it died or stalled)."""
        process = self.process if self.process is not None and self.process.poll() is None else self._start()
        assert process.stdin is not None
        try:
            process.stdin.write(json.dumps(request) + "\n")
            process.stdin.flush()
        except BrokenPipeError:
            self.process = None
            return {"verdict": "crash", "returncode": process.wait()}
        return self._read(process)

    def close(self) -> None:
        """End the subprocess (closing its input ends its loop)."""
        if self.process is not None:
            assert self.process.stdin is not None
            self.process.stdin.close()
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()


@pytest.fixture(scope="module")
def worker() -> Iterator[Worker]:
    """One worker for the module's examples."""
    started = Worker()
    try:
        yield started
    finally:
        started.close()


# -- shapes --------------------------------------------------------------------------------
def wrap(kind: str, inner: Any) -> dict[str, Any]:
    """One level of nesting around ``inner``."""
    if kind == "object":
        return {"type": "object", "properties": {"x": inner}, "required": ["x"]}
    if kind == "optional":
        return {"type": "object", "properties": {"x": inner}}
    if kind == "array":
        return {"type": "array", "items": inner}
    if kind == "anyOf":
        return {"anyOf": [inner, {"type": "null"}]}
    return {"allOf": [inner]}


KINDS = st.sampled_from(["object", "optional", "array", "anyOf", "allOf"])
SIZES = st.one_of(st.integers(1, 40), st.integers(40, 700), st.integers(700, 4000))
DEPTHS = st.one_of(st.integers(1, 30), st.integers(30, 280))
"""Nesting levels: JSON text deeper than about 900 levels cannot even be sent (json.dumps)."""


@st.composite
def ref_chains(draw: st.DrawFn) -> dict[str, Any]:
    """``$defs`` d0 -> d1 -> ... ending in a leaf, the root, or back at d0."""
    n, kind = draw(SIZES), draw(KINDS)
    end = draw(st.sampled_from([{"type": "string"}, {"$ref": "#"}, {"$ref": "#/$defs/d0"}, {"type": "integer"}]))
    defs: dict[str, Any] = {f"d{i}": wrap(kind, {"$ref": f"#/$defs/d{i + 1}"}) for i in range(n)}
    defs[f"d{n}"] = end
    return {"$defs": defs, "$ref": "#/$defs/d0"}


@st.composite
def nests(draw: st.DrawFn) -> dict[str, Any]:
    """A schema nested ``n`` levels deep."""
    schema: Any = draw(st.sampled_from([{"type": "string"}, {"$ref": "#"}, {}, True]))
    kinds = draw(st.lists(KINDS, min_size=1, max_size=3))
    for kind in (kinds * draw(DEPTHS))[:len(kinds) * 100]:
        schema = wrap(kind, schema)
    return schema  # type: ignore[no-any-return]


@st.composite
def wides(draw: st.DrawFn) -> dict[str, Any]:
    """Wide alternations, enums, property lists."""
    n = draw(st.one_of(st.integers(1, 50), st.integers(50, 3000), st.integers(3000, 12000)))
    kind = draw(st.sampled_from(["anyOf", "oneOf", "enum", "properties", "required"]))
    if kind in ("anyOf", "oneOf"):
        return {kind: [{"type": "object", "properties": {"k": {"const": f"v{i}"}}, "required": ["k"]}
                       for i in range(n)]}
    if kind == "enum":
        return {"enum": [f"value-{i}" for i in range(n)]}
    props = {f"p{i}": {"type": draw(st.sampled_from(["string", "integer", "number"]))} for i in range(n)}
    schema: dict[str, Any] = {"type": "object", "properties": props}
    if kind == "required":
        schema["required"] = list(props)
    return schema


@st.composite
def recursions(draw: st.DrawFn) -> dict[str, Any]:
    """Self and mutual recursion, satisfiable or not."""
    k = draw(st.integers(1, 6))
    kind = draw(KINDS)
    defs = {f"a{i}": wrap(kind, {"$ref": f"#/$defs/a{(i + 1) % k}"}) for i in range(k)}
    root = draw(st.sampled_from([{"$ref": "#"}, {"$ref": "#/$defs/a0"}, wrap(kind, {"$ref": "#"}),
                                 {"type": "array", "items": {"$ref": "#"}, "minItems": draw(st.integers(0, 3))}]))
    return {"$defs": defs, **root}


def lark_shapes(n: int, kind: str) -> str:
    """A hostile Lark grammar of size ``n``."""
    if kind == "chain":
        return "\n".join([f"r{i}: r{i + 1}" for i in range(n)] + [f'r{n}: "a"', "start: r0"])
    if kind == "parens":
        return "start: " + "(" * n + '"a"' + ")" * n
    if kind == "alternation":
        return "start: " + " | ".join(f'"w{i}"' for i in range(n))
    if kind == "ambiguous":
        return 'start: a\na: "x" | ' + " | ".join(" ".join(["a"] * j) for j in range(2, min(n, 12) + 2))
    if kind == "left":
        return 'start: a\na: a "x" | "x"'
    if kind == "regex":
        return "start: /" + "(a" * min(n, 3000) + ")*" * min(n, 3000) + "/"
    if kind == "counted":
        return f"start: /(a{{1,{n}}}){{1,{n}}}b/"
    return "start: %json " + json.dumps({"$defs": {f"d{i}": {"$ref": f"#/$defs/d{i + 1}"} for i in range(n)}
                                          | {f"d{n}": {"type": "string"}}, "$ref": "#/$defs/d0"})


def schema_format(schema: Any) -> dict[str, Any]:
    return {"type": "json_schema", "json_schema": {"name": "fuzz", "schema": schema}}


@st.composite
def keywords(draw: st.DrawFn) -> dict[str, Any]:
    """Huge or deep values of single keywords (patterns, lengths, item counts, ranges)."""
    n = draw(SIZES)
    return draw(st.sampled_from([
        {"type": "string", "pattern": "(" * n + "a" + ")" * n},
        {"type": "object", "patternProperties": {"(" * n + "a" + ")" * n: {"type": "string"}}},
        {"type": "string", "pattern": f"^(a{{1,{n}}}){{1,{n}}}$"},
        {"type": "string", "minLength": n * 1000, "maxLength": n * 2000},
        {"type": "array", "minItems": n * 1000, "items": {"type": "integer"}},
        {"type": "array", "prefixItems": [{"type": "integer"}] * min(n, 400), "minItems": min(n, 400)},
        {"type": "integer", "minimum": -(10 ** n), "maximum": 10 ** n},
        {"type": "number", "multipleOf": float(f"1e-{min(n, 300)}")},
        {"type": "object", "minProperties": n * 100},
    ]))


FORMATS = st.one_of(
    st.one_of(ref_chains(), nests(), wides(), recursions(), keywords()).map(schema_format),
    st.builds(lambda n, kind: {"type": "grammar", "lark": lark_shapes(n, kind)}, SIZES,
              st.sampled_from(["chain", "parens", "alternation", "ambiguous", "left", "regex", "counted", "json"])),
    st.builds(lambda n, rep: {"type": "regex", "pattern": "(" * n + "a" + ")" * n + rep}, DEPTHS,
              st.sampled_from(["", "*", "{1,1000}", "{2,}"])),
)


@settings(max_examples=60, deadline=None, database=None,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large,
                                 HealthCheck.function_scoped_fixture])
@given(FORMATS)
def test_no_shape_crashes_or_hangs_the_engine(worker: Worker, fmt: dict[str, Any]) -> None:
    answer = worker.ask({"format": fmt})
    assert answer["verdict"] in CLEAN, answer


def known_crashers() -> list[dict[str, Any]]:
    """Shapes that overflowed llguidance 1.9.1's stack on an 8 MiB thread (SIGSEGV)."""
    chain: dict[str, Any] = {f"d{i}": wrap("optional", {"$ref": f"#/$defs/d{i + 1}"}) for i in range(2000)}
    chain["d2000"] = {"type": "string"}
    return [schema_format({"$defs": chain, "$ref": "#/$defs/d0"}),
            {"type": "grammar", "lark": lark_shapes(3000, "chain")}]


@pytest.mark.parametrize("fmt", known_crashers(), ids=["defs-chain-2000", "lark-chain-3000"])
@pytest.mark.parametrize("direct", [False, True], ids=["bounded", "engine-alone"])
def test_known_crashers_are_refused_or_compiled_safely(worker: Worker, fmt: dict[str, Any], direct: bool) -> None:
    answer = worker.ask({"format": fmt, "direct": direct})
    assert answer["verdict"] == ("refused" if not direct else "ok"), answer
