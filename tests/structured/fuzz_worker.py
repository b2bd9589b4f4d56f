"""A subprocess for the constraint-engine fuzz test: reads one JSON request per line, answers
one JSON verdict per line, so a crash inside the engine (SIGSEGV) kills only this process.

Request: ``{"format": <response_format>, "direct": bool}``. Without ``direct`` the format goes
through ``GenerationParameters`` (lmstream's bounds) first; with it, straight to the engine.
Verdicts: ``refused`` (a ValueError at creation), ``error`` (the engine refused it),
``stream_error`` (a ConstraintError while generating), ``ok``, or ``unexpected`` (any other
exception: never acceptable).
"""

from __future__ import annotations

import json
import sys
from typing import Any

import numpy as np

import lmstream
from lmstream.pipeline._constraints import Constraint, ConstraintError, vocabulary_for
from lmstream.protocol import constraint_spec
from lmstream_structured.engine import LLGuidanceEngine

STEPS = 40
"""Tokens generated per accepted spec (the smallest allowed non-end token each step)."""


def judge(context: lmstream.ModelContext, engine: LLGuidanceEngine, request: dict[str, Any]) -> dict[str, Any]:
    """The verdict on one request."""
    fmt = request["format"]
    if not request.get("direct"):
        try:
            fmt = lmstream.GenerationParameters(response_format=fmt).response_format
        except ValueError as exc:
            return {"verdict": "refused", "error": str(exc)[-300:]}
    vocabulary = vocabulary_for(context.backend_model)
    try:
        spec = constraint_spec(fmt, None, None, None)
        assert spec is not None
        matcher = engine.matcher(spec, vocabulary)
    except ValueError as exc:
        return {"verdict": "error", "error": str(exc)[:300]}
    constraint = Constraint(matcher, vocabulary, reasoning_markers=None)
    try:
        for _ in range(STEPS):
            mask = constraint.mask()
            if mask is None:
                break
            allowed = np.flatnonzero(mask)
            choices = [int(t) for t in allowed if int(t) not in vocabulary.eos_token_ids]
            token = choices[0] if choices else int(allowed[0])
            constraint.advance(token)
    except ConstraintError as exc:
        return {"verdict": "stream_error", "error": str(exc)[:300]}
    return {"verdict": "ok"}


def main() -> None:
    """Serve requests from stdin until it closes."""
    context = lmstream.load(backend="scripted", reply="x", model_chat_template=None)
    engine = LLGuidanceEngine()
    print(json.dumps({"verdict": "ready"}), flush=True)
    for line in sys.stdin:
        try:
            answer = judge(context, engine, json.loads(line))
        except Exception as exc:  # reported, not hidden: the test fails on it
            answer = {"verdict": "unexpected", "error": f"{type(exc).__name__}: {exc}"[:500]}
        print(json.dumps(answer), flush=True)


if __name__ == "__main__":
    main()
