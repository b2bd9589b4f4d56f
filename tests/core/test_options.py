"""Validation rules stated once, on pydantic models: load options (``BackendOptions`` and the
core's and scheduler's), ``GenerationParameters`` and the input models.

One test per rule family (unknown names, strict types, no NaN/inf, ranges, frozen, routing,
listing), and a property: any value of a type a field does not declare is a ValueError or
TypeError naming that field, never another exception.
"""

from __future__ import annotations

import math
import types
import typing
from typing import Any, ClassVar

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pydantic import BaseModel, Field, ValidationError

import lmstream
from lmstream import GenerationParameters, OptionError
from lmstream.api._load_options import CoreLoadOptions, SchedulerOptions
from lmstream.backend import BackendOptions
from lmstream.model import LoadOptions
from lmstream.protocol import (
    ChatMessage,
    ChatTemplateOptions,
    ToolSpec,
    UserInput,
    resolve_parameters,
)
from lmstream_llama_cpp.options import LlamaCppOptions
from lmstream_mlx.options import MlxOptions
from lmstream_scripted.model import ScriptedOptions


class ToyOptions(BackendOptions):
    """A third-party backend's options, as docs/plugins.md shows them."""

    kind: ClassVar[str] = "toy backend"

    threads: int = Field(1, ge=1)
    """Worker threads."""
    scale: float | None = None
    """Logit scale; None: the model's."""
    fast: bool = False
    """Take the fast path."""


# -- load options: the base's rules ---------------------------------------------------------------

def test_unknown_options_are_named_with_the_known_ones() -> None:
    with pytest.raises(OptionError, match=r"unknown toy backend option\(s\): thread, zzz; known: fast, scale, threads"):
        ToyOptions.parse({"thread": 2, "zzz": 1})
    with pytest.raises(TypeError):  # as Python's own call with an unknown keyword
        ToyOptions.parse({"thread": 2})


@pytest.mark.parametrize(("options", "option"), [
    ({"threads": True}, "threads"), ({"threads": 1.0}, "threads"), ({"threads": "2"}, "threads"),
    ({"fast": 1}, "fast"), ({"fast": "yes"}, "fast"), ({"scale": True}, "scale"), ({"scale": "1.5"}, "scale"),
])
def test_types_are_strict(options: dict[str, Any], option: str) -> None:
    with pytest.raises(OptionError, match=f"toy backend option '{option}': Input should be"):
        ToyOptions.parse(options)


@pytest.mark.parametrize("value", [math.nan, math.inf, -math.inf])
def test_nan_and_infinity_are_refused(value: float) -> None:
    with pytest.raises(ValueError, match="option 'scale': Input should be a finite number"):
        ToyOptions.parse({"scale": value})


def test_ranges_name_the_option_and_the_value() -> None:
    with pytest.raises(ValueError, match=r"option 'threads': Input should be greater than or equal to 1 \(got 0\)"):
        ToyOptions.parse({"threads": 0})


def test_parsed_options_are_frozen_and_ints_pass_for_floats() -> None:
    parsed = ToyOptions.parse({"threads": 3, "scale": 2})
    assert (parsed.threads, parsed.scale, parsed.fast) == (3, 2.0, False)
    with pytest.raises(ValidationError):
        parsed.threads = 4  # type: ignore[misc]


def test_describe_lists_types_defaults_and_docs() -> None:
    docs = {doc.name: doc for doc in ToyOptions.describe()}
    assert list(docs) == ["threads", "scale", "fast"]
    assert (docs["threads"].type, docs["threads"].default, docs["threads"].description) == ("int", 1, "Worker threads.")
    assert docs["scale"].type == "float | None"
    devices = {doc.name: doc for doc in MlxOptions.describe()}["device"]
    assert devices.type == "'cpu' | 'gpu' | None" and "mlx's default device" in devices.description
    assert all(doc.description for doc in LlamaCppOptions.describe())


def test_take_pops_only_its_own_options() -> None:
    options: dict[str, Any] = {"max_batch_size": 2, "tool_parser": "json", "n_ctx": 64}
    assert SchedulerOptions.take(options).max_batch_size == 2
    assert CoreLoadOptions.take(options).for_model_info() == {"tool_parser": "json"}
    assert options == {"n_ctx": 64}


def test_every_options_class_shares_the_base_rules() -> None:
    for cls in (MlxOptions, LlamaCppOptions, ScriptedOptions, SchedulerOptions, CoreLoadOptions):
        assert issubclass(cls, LoadOptions)
        config = cls.model_config
        assert (config.get("extra"), config.get("strict"), config.get("allow_inf_nan"), config.get("frozen")) \
            == ("forbid", True, False, True), cls
    assert all(issubclass(cls, BackendOptions) for cls in (MlxOptions, LlamaCppOptions, ScriptedOptions))


# -- load(): routing by the models' field sets ----------------------------------------------------

def test_load_routes_core_scheduler_and_backend_options() -> None:
    context = lmstream.load(backend="scripted", tool_parser="json", reasoning_markers=["<r>", "</r>"],
                            max_batch_size=3, reply="hi")
    try:
        assert context.info.options == {"tool_parser": "json", "reasoning_markers": ("<r>", "</r>")}
        assert context.backend_model.options.reply == "hi"  # type: ignore[attr-defined]
    finally:
        context.close()


@pytest.mark.parametrize(("options", "message"), [
    ({"max_batch_size": 0}, "scheduler option 'max_batch_size'"),
    ({"prefill_chunk_s": math.nan}, "scheduler option 'prefill_chunk_s': Input should be a finite number"),
    ({"prefix_cache_bytes": "10"}, "scheduler option 'prefix_cache_bytes'"),
    ({"batching": "no"}, "scheduler option 'batching'"),
    ({"reasoning_markers": ("<r>", "<r>")}, "load option 'reasoning_markers': .*two different"),
    ({"tool_parser": " "}, "load option 'tool_parser': .*non-empty"),
    ({"chat_template": 5}, "load option 'chat_template'"),
])
def test_load_option_errors_name_the_option(options: dict[str, Any], message: str) -> None:
    with pytest.raises(OptionError, match=message):
        lmstream.load(backend="scripted", **options)


def test_an_unknown_load_option_reaches_the_backend_and_is_refused_there() -> None:
    with pytest.raises(ValueError, match="max_batch"):
        lmstream.load(backend="scripted", max_batch=2)


# -- GenerationParameters and the input models ----------------------------------------------------

@pytest.mark.parametrize(("fields", "field"), [
    ({"max_tokens": True}, "max_tokens"), ({"top_k": 1.0}, "top_k"), ({"seed": "7"}, "seed"),
    ({"temperature": True}, "temperature"), ({"top_p": "0.5"}, "top_p"),
    ({"logprobs": 1}, "logprobs"), ({"reasoning_channel": "yes"}, "reasoning_channel"),
    ({"speculative": 0}, "speculative"), ({"stop_token_ids": (True,)}, "stop_token_ids.0"),
    ({"kv_bits": 7}, "kv_bits"), ({"kv_bits": 4.0}, "kv_bits"),
])
def test_parameter_types_are_strict(fields: dict[str, Any], field: str) -> None:
    with pytest.raises(ValueError, match=rf"(?m)^{field}$"):
        GenerationParameters(**fields)


@pytest.mark.parametrize("field", ["temperature", "top_p", "min_p", "repetition_penalty",
                                   "presence_penalty", "frequency_penalty"])
def test_parameter_floats_are_finite(field: str) -> None:
    for value in (math.nan, math.inf):
        with pytest.raises(ValueError, match=rf"(?s){field}.*finite number"):
            GenerationParameters(**{field: value})


def test_parameter_ranges_and_cross_field_rules() -> None:
    with pytest.raises(ValueError, match=r"(?s)seed.*less than or equal to 18446744073709551615"):
        GenerationParameters(seed=2**64)
    with pytest.raises(ValueError, match="top_logprobs needs logprobs"):
        GenerationParameters(top_logprobs=2)
    with pytest.raises(ValueError, match="kv_bits cannot be combined with max_kv_size"):
        GenerationParameters(kv_bits=4, max_kv_size=64)


def test_token_ids_accept_numpy_integers_and_json_keys() -> None:
    params = GenerationParameters(stop_token_ids=[np.int64(5)], logit_bias={"7": -1, np.int32(8): 2})
    assert params.stop_token_ids == (5,) and params.logit_bias == {7: -1.0, 8: 2.0}
    assert all(type(t) is int for t in (*params.stop_token_ids, *params.logit_bias))
    with pytest.raises(ValueError, match="logit_bias"):
        GenerationParameters(logit_bias={"²": 1.0})


def test_with_overrides_and_resolve_parameters_validate_once() -> None:
    base = GenerationParameters(stop=["x"], reasoning_markers=["<a>", "</a>"])
    copy = base.with_overrides(max_tokens=3)
    assert (copy.max_tokens, copy.stop, copy.reasoning_markers) == (3, ("x",), ("<a>", "</a>"))
    with pytest.raises(ValueError, match="max_tokens"):
        base.with_overrides(max_tokens=False)
    with pytest.raises(ValueError, match="bogus"):
        base.with_overrides(bogus=1)
    assert resolve_parameters({"top_k": 5}, {"seed": 1}) == GenerationParameters(top_k=5, seed=1)
    assert resolve_parameters(None, {}) == GenerationParameters()


def test_input_models_are_strict() -> None:
    for bad in ({"add_generation_prompt": "no"}, {"enable_thinking": 1}):
        with pytest.raises(ValueError, match=next(iter(bad))):
            ChatTemplateOptions(**bad)
    with pytest.raises(ValueError, match="use_chat_template"):
        UserInput(prompt="hi", use_chat_template=0)
    with pytest.raises(ValueError, match="tool_call_id"):
        ChatMessage(role="tool", content="x", tool_call_id=5)
    taken = UserInput(messages=({"role": "user", "content": "hi"},))  # a tuple is taken as the list
    assert taken.messages is not None and taken.messages[0].content == "hi"


# -- the property: a value of an undeclared type is an error naming the field -------------------

def _members(annotation: Any) -> list[Any]:
    """The members of a union annotation (Annotated metadata stripped)."""
    origin = typing.get_origin(annotation)
    if origin is typing.Annotated:
        return _members(typing.get_args(annotation)[0])
    if origin is typing.Union or origin is types.UnionType:
        return [m for arg in typing.get_args(annotation) for m in _members(arg)]
    return [annotation]


def _accepted_types(annotation: Any) -> set[type] | None:
    """The Python types a scalar field accepts (strictly), or None for containers and Any."""
    accepted: set[type] = set()
    for member in _members(annotation):
        if member is type(None):
            accepted.add(type(None))
        elif member in (bool, str):
            accepted.add(member)
        elif member is int:
            accepted.add(int)
        elif member is float:
            accepted |= {int, float}
        elif typing.get_origin(member) is typing.Literal:
            accepted |= {type(value) for value in typing.get_args(member)}
        else:
            return None
    return accepted


CASES: list[tuple[type[BaseModel], dict[str, Any]]] = [
    (GenerationParameters, {}), (MlxOptions, {}), (LlamaCppOptions, {}), (ScriptedOptions, {}),
    (SchedulerOptions, {}), (CoreLoadOptions, {}), (ToyOptions, {}), (ChatTemplateOptions, {}),
    (UserInput, {"prompt": "hi"}), (ChatMessage, {"role": "user", "content": "hi"}), (ToolSpec, {"name": "f"}),
]
ALSO_ACCEPTED: dict[tuple[type[BaseModel], str], set[type]] = {(ToolSpec, "description"): {type(None)}}
"""Values a field's type does not declare but the model maps on purpose (a tool's description
given as None, as OpenAI clients send it, is "")."""
FIELDS = [(cls, base, name) for cls, base in CASES for name in cls.model_fields]
SCALAR_FIELDS = [(cls, base, name, accepted | ALSO_ACCEPTED.get((cls, name), set())) for cls, base, name in FIELDS
                 if (accepted := _accepted_types(cls.model_fields[name].annotation)) is not None]

VALUES = st.one_of(
    st.booleans(), st.integers(), st.floats(), st.text(max_size=8), st.none(), st.binary(max_size=4),
    st.lists(st.one_of(st.integers(), st.text(max_size=3), st.booleans()), max_size=3),
    st.tuples(st.text(max_size=3), st.text(max_size=3)),
    st.dictionaries(st.text(max_size=3), st.one_of(st.integers(), st.text(max_size=3)), max_size=2),
    st.builds(object), st.just(np.int64(3)), st.just(np.float64("nan")),
)


def _build(cls: type[BaseModel], base: dict[str, Any], name: str, value: Any) -> None:
    data = {**base, name: value}
    if issubclass(cls, LoadOptions):
        cls.parse(data)
    else:
        cls.model_validate(data)


def _declared(value: Any, accepted: set[type]) -> bool:
    """Whether ``value`` is of a type the field declares (bool is not an int; a float field
    takes any real number but a bool, numpy's included)."""
    if type(value) in accepted:
        return True
    return float in accepted and isinstance(value, (float, np.integer, np.floating))


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.sampled_from(SCALAR_FIELDS), st.data())
def test_an_undeclared_type_is_an_error_naming_the_field(case: Any, data: Any) -> None:
    cls, base, name, accepted = case
    value = data.draw(VALUES.filter(lambda v: not _declared(v, accepted)))
    with pytest.raises((ValueError, TypeError)) as caught:
        _build(cls, base, name, value)
    assert name in str(caught.value), (cls.__name__, name, value, str(caught.value))


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.sampled_from(FIELDS), VALUES)
def test_any_value_is_accepted_or_an_error_naming_the_field(case: Any, value: Any) -> None:
    cls, base, name = case
    try:
        _build(cls, base, name, value)
    except (ValueError, TypeError) as error:
        assert name in str(error), (cls.__name__, name, value, str(error))
