"""Structured output on the scripted backend (llguidance over its byte vocabulary): reasoning
free then JSON, forcing, parsed objects, regex, Lark, bad specs, unsatisfiable, length."""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Callable

import jsonschema
import pytest
from pydantic import BaseModel

import lmstream
from lmstream import Chunk, Info

pytest.importorskip("llguidance")

Scripted = Callable[..., lmstream.ModelContext]
SCHEMA = {"type": "object", "additionalProperties": False, "required": ["name", "tags"],
          "properties": {"name": {"type": "string"}, "tags": {"type": "array", "items": {"enum": ["a", "b"]}}}}
FORMAT = {"type": "json_schema", "json_schema": {"name": "thing", "schema": SCHEMA}}
GOOD = '{"name": "box", "tags": ["a", "b"]}'


def test_reasoning_is_free_and_the_content_is_constrained(scripted: Scripted) -> None:
    ctx = scripted(reply=f"<think>scratch {{not json]</think>{GOOD}")
    result = ctx.generate("q", response_format=FORMAT)
    assert result.reasoning == "scratch {not json]"
    assert result.stop_reason == "stop"
    jsonschema.validate(result.parsed, SCHEMA)
    assert result.parsed == json.loads(GOOD)


def test_forcing_constrains_from_the_first_token(scripted: Scripted) -> None:
    ctx = scripted(reply=f"<think>scratch</think>{GOOD}")
    result = ctx.generate("q", response_format=FORMAT, constrain_reasoning=True)
    assert result.reasoning == ""
    assert result.stop_reason == "stop"
    jsonschema.validate(json.loads(result.text), SCHEMA)


def test_a_template_that_opens_reasoning_leaves_it_free(scripted: Scripted) -> None:
    ctx = scripted(reply=f"thinking {{[</think>{GOOD}", model_chat_template="{{ messages[0]['content'] }}<think>")
    result = ctx.generate(messages=[{"role": "user", "content": "q"}], response_format=FORMAT)
    assert result.reasoning == "thinking {["
    jsonschema.validate(result.parsed, SCHEMA)


def test_output_off_the_schema_is_bent_into_it(scripted: Scripted) -> None:
    ctx = scripted(reply='Sure! {"name": "box", "size": 3, "tags": ["c", "a"]}')
    result = ctx.generate("q", response_format=FORMAT, max_tokens=200)
    assert result.stop_reason == "stop"
    jsonschema.validate(json.loads(result.text), SCHEMA)


def test_pydantic_models_and_dataclasses_come_back_parsed(scripted: Scripted) -> None:
    class Person(BaseModel):
        name: str
        age: int

    @dataclasses.dataclass
    class Point:
        x: int
        y: int

    assert scripted(reply='{"name": "Ann", "age": 7}').generate(
        "q", response_format=Person).parsed == Person(name="Ann", age=7)
    assert scripted(reply='{"x": 1, "y": -2}').generate("q", response_format=Point).parsed == Point(1, -2)


def test_regex_and_lark_grammar(scripted: Scripted) -> None:
    result = scripted(reply="order 66 now").generate(
        "q", response_format={"type": "regex", "pattern": "[a-z]+ [0-9]{2}"}, constrain_reasoning=True)
    assert result.text == "order 66" and result.parsed is None
    lark = 'start: expr\nexpr: term (("+" | "-") term)*\nterm: NUMBER | "(" expr ")"\nNUMBER: /[0-9]+/'
    result = scripted(reply="1+(22-3)) = 20").generate(
        "q", response_format={"type": "grammar", "lark": lark})
    assert result.text == "1+(22-3)"


@pytest.mark.parametrize(("fmt", "message"), [
    ({"type": "regex", "pattern": "a(b"}, "invalid regex"),
    ({"type": "grammar", "lark": "start: undefined_rule"}, "invalid Lark grammar"),
    ({"type": "json_schema", "json_schema": {"schema": {"type": "object", "$ref": "#/nowhere"}}},
     "invalid JSON schema"),
])
def test_invalid_specs_raise_at_creation_with_the_engine_message(scripted: Scripted, fmt: dict[str, object],
                                                                 message: str) -> None:
    ctx = scripted()
    with pytest.raises(ValueError, match=message):
        ctx.generate_stream("q", response_format=fmt)


def test_unsatisfiable_schemas_raise_at_creation(scripted: Scripted) -> None:
    schema = {"type": "string", "minLength": 3, "maxLength": 2}
    with pytest.raises(ValueError, match="invalid JSON schema: Unsatisfiable schema: minLength"):
        scripted().generate_stream("q", response_format={"type": "json_schema", "json_schema": {"schema": schema}})


def test_a_dead_end_the_engine_sees_at_once_raises_at_creation(scripted: Scripted) -> None:
    # an empty character class: the first mask already shows that nothing can be generated
    with pytest.raises(ValueError, match="regex is unsatisfiable"):
        scripted(reply="abc").generate_stream("q", response_format={"type": "regex", "pattern": "a[^\\s\\S]"})


def test_max_tokens_too_small_ends_with_length_and_a_valid_prefix(scripted: Scripted) -> None:
    ctx = scripted(reply=GOOD)
    result = ctx.generate("q", response_format=FORMAT, max_tokens=12)
    assert result.stop_reason == "length" and result.parsed is None
    assert GOOD.startswith(result.text) and len(result.text) == 12


def test_a_backend_that_cannot_mask_raises_naming_itself() -> None:
    pytest.importorskip("lmstream_echo")
    with lmstream.load(backend="echo") as ctx, pytest.raises(ValueError, match="backend 'echo' cannot mask"):
        ctx.generate_stream("q", response_format={"type": "json_object"})


def test_unknown_engine_lists_the_known_ones(scripted: Scripted) -> None:
    with pytest.raises(LookupError, match="llguidance"):
        scripted().generate_stream("q", response_format={"type": "json_object"}, constraint_engine="nope")


def test_token_streams_are_constrained_too(scripted: Scripted) -> None:
    ctx = scripted(reply="xx42yy")
    events = list(lmstream.generate_tokens("q", context=ctx, parameters={
        "response_format": {"type": "regex", "pattern": "[0-9]+"}, "reasoning_markers": None}))
    ids = [e.id for e in events if not isinstance(e, Info)]
    assert bytes(ids) == b"42"


@pytest.mark.parametrize("batching", [True, False])
def test_eight_concurrent_streams_with_eight_schemas_on_one_context(scripted: Scripted, batching: bool) -> None:
    # batching=True: the scheduler steps all eight in one batch (the runner masks each row);
    # False: the token_iterator path, one sequence at a time
    replies = [json.dumps({f"k{i}": i, "pad": "x" * i}) for i in range(8)]
    ctx = scripted(reply=lambda prompt: replies[int(prompt[-1])], token_delay=0.001, batching=batching,
                   max_batch_size=8)
    schemas = [{"type": "object", "additionalProperties": False, "required": [f"k{i}"],
                "properties": {f"k{i}": {"const": i}, "pad": {"type": "string", "maxLength": i}}}
               for i in range(8)]
    streams = [ctx.generate_stream(f"q{i}", response_format={"type": "json_schema", "json_schema": {"schema": s}})
               for i, s in enumerate(schemas)]
    for i, stream in enumerate(streams):
        events = list(stream)
        text = "".join(e.text for e in events if isinstance(e, Chunk))
        assert events[-1].stop_reason == "stop"
        jsonschema.validate(json.loads(text), schemas[i])


def test_a_stop_string_that_cuts_the_json_makes_generate_raise(scripted: Scripted) -> None:
    ctx = scripted(reply=GOOD)
    stream_text = "".join(e.text for e in ctx.generate_stream("q", response_format=FORMAT, stop=["]"])
                          if isinstance(e, Chunk))
    assert stream_text == '{"name": "box", "tags": ["a", "b"'
    with pytest.raises(ValueError, match="not JSON"):
        ctx.generate("q", response_format=FORMAT, stop=["]"])
