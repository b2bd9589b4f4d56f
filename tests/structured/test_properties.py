"""Properties of constrained scripted generation: a valid answer passes through unchanged
(reasoning included), and whatever the model wants to write, a `stop` output validates and a
`length` output is a prefix the grammar still accepts."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import jsonschema
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import lmstream

pytest.importorskip("llguidance")

SCHEMA = {
    "type": "object", "additionalProperties": False, "required": ["id", "tags"],
    "properties": {
        "id": {"type": "integer", "minimum": 0, "maximum": 999},
        "tags": {"type": "array", "maxItems": 3, "items": {"type": "string", "maxLength": 6}},
        "ok": {"type": "boolean"},
    },
}
FORMAT = {"type": "json_schema", "json_schema": {"name": "t", "schema": SCHEMA}}
SETTINGS = settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])

safe_text = st.text(st.characters(codec="utf-8", exclude_characters="<\\\"", exclude_categories=["Cs", "Cc"]),
                    max_size=6)
# llguidance writes an object's properties in the schema's order, so a valid answer does too
valid = st.builds(lambda i, tags, ok: {"id": i, "tags": tags, **({} if ok is None else {"ok": ok})},
                  st.integers(0, 999), st.lists(safe_text, max_size=3), st.none() | st.booleans())


@pytest.fixture(scope="module")
def context() -> Iterator[lmstream.ModelContext]:
    replies: list[str] = [""]
    ctx = lmstream.load(backend="scripted", reply=lambda prompt: replies[0], model_chat_template=None,
                        reasoning_markers=("<think>", "</think>"))
    ctx.replies = replies  # type: ignore[attr-defined]
    yield ctx
    ctx.close()


def run(ctx: Any, reply: str, **overrides: Any) -> lmstream.GenerationResult:
    ctx.replies[0] = reply
    return ctx.generate("q", **{"response_format": FORMAT, "max_tokens": 120, **overrides})


@SETTINGS
@given(answer=valid, thought=st.text(st.characters(exclude_characters="<", exclude_categories=["Cs"]), max_size=20))
def test_a_valid_answer_passes_through_unchanged(context: Any, answer: dict[str, Any], thought: str) -> None:
    text = json.dumps(answer, ensure_ascii=False)
    # the scripted tokenizer spends a token per UTF-8 byte: 20 four-byte thought characters and
    # three six-character tags of four-byte characters need ~240 tokens, so leave room for them
    result = run(context, f"<think>{thought}</think>{text}", max_tokens=400)
    assert result.reasoning == thought
    assert result.text == text and result.parsed == answer and result.stop_reason == "stop"


@SETTINGS
@given(wanted=st.one_of(
    st.text(max_size=60),
    st.recursive(st.none() | st.booleans() | st.integers(-5, 2000) | safe_text,
                 lambda inner: st.lists(inner, max_size=3) | st.dictionaries(
                     st.sampled_from(["id", "tags", "ok", "x"]), inner, max_size=4),
                 max_leaves=8).map(json.dumps),
))
def test_whatever_the_model_wants_the_output_stays_valid(context: Any, wanted: str) -> None:
    result = run(context, wanted, constrain_reasoning=True)
    if result.stop_reason == "stop":
        jsonschema.validate(json.loads(result.text), SCHEMA)
    else:
        assert result.stop_reason == "length"
        import llguidance

        from lmstream.pipeline._constraints import vocabulary_for
        engine = context.plugin_system.constraint_engines.get("llguidance")
        tokenizer = engine.tokenizer(vocabulary_for(context.backend_model))
        matcher = llguidance.LLMatcher(tokenizer, engine.grammar(
            lmstream.plugin.ConstraintSpec("json_schema", schema=SCHEMA), vocabulary_for(context.backend_model)))
        assert matcher.consume_tokens(list(result.text.encode("utf-8"))), result.text
