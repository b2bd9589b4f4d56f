"""Tools from callables: schemas from type hints and docstrings, validation, sync/async calls."""

from __future__ import annotations

import asyncio
import datetime
import enum
import functools
import json
from typing import Any, Literal

import pytest
from pydantic import BaseModel, Field

from lmstream import ToolCall
from lmstream.chat._tool_dispatch import (
    acall_tool,
    call_tool,
    encode_result,
    merge_specs,
    tool_from_callable,
    tools_from_dispatch,
)


class Unit(enum.Enum):
    CELSIUS = "celsius"
    FAHRENHEIT = "fahrenheit"


class Location(BaseModel):
    """A place on earth."""

    city: str = Field(description="City name")
    country: str = "FR"


def forecast(location: Location, days: int = 1, unit: Unit = Unit.CELSIUS,
             detail: Literal["short", "long"] = "short") -> dict[str, Any]:
    """Forecast the weather.

    Uses the nearest station.

    Args:
        location: Where to look.
        days: How many days ahead.
        unit: Temperature unit.
        detail: How much to say.
    """
    return {"city": location.city, "days": days, "unit": unit.value, "detail": detail}


def test_schema_from_type_hints_and_google_docstring():
    tool = tool_from_callable(forecast)
    spec = tool.spec
    assert spec.name == "forecast"
    assert spec.description == "Forecast the weather.\n\nUses the nearest station."
    schema = spec.parameters
    assert schema["type"] == "object" and schema["required"] == ["location"]
    assert schema["additionalProperties"] is False
    props = schema["properties"]
    assert props["location"] == {"$ref": "#/$defs/Location", "description": "Where to look."}
    assert props["days"] == {"type": "integer", "default": 1, "description": "How many days ahead."}
    assert props["unit"]["default"] == "celsius" and props["unit"]["description"] == "Temperature unit."
    assert props["detail"] == {"type": "string", "enum": ["short", "long"], "default": "short",
                               "description": "How much to say."}
    assert schema["$defs"]["Location"]["properties"]["city"] == {"type": "string", "description": "City name"}
    assert schema["$defs"]["Unit"]["enum"] == ["celsius", "fahrenheit"]
    assert "title" not in schema and "title" not in props["days"]


def test_arguments_are_validated_and_coerced():
    tool = tool_from_callable(forecast)
    result = call_tool(tool, ToolCall("c1", "forecast", {"location": {"city": "Nice"}, "days": "3",
                                                          "unit": "fahrenheit"}))
    assert not result.is_error
    assert json.loads(result.content) == {"city": "Nice", "days": 3, "unit": "fahrenheit", "detail": "short"}
    bad = call_tool(tool, ToolCall("c2", "forecast", {"location": {}, "nope": 1}))
    assert bad.is_error
    message = json.loads(bad.content)["error"]
    assert message.startswith("invalid arguments: ")
    assert "location.city: Field required" in message and "nope: Extra inputs are not permitted" in message


def test_rest_style_docstrings_and_untyped_parameters():
    def lookup(key, default=None):
        """Look a key up.

        :param key: the key
        :param default: returned when missing
        """
        return {"k": key, "d": default}

    spec = tool_from_callable(lookup).spec
    assert spec.description == "Look a key up."
    assert spec.parameters["properties"]["key"] == {"description": "the key"}
    assert spec.parameters["required"] == ["key"]


def test_positional_only_and_keyword_only_parameters():
    def f(a: int, /, b: int, *, c: int = 3) -> int:
        return a * 100 + b * 10 + c

    result = call_tool(tool_from_callable(f), ToolCall("1", "f", {"a": 1, "b": 2}))
    assert result.content == "123"


@pytest.mark.parametrize(("function", "name", "error", "match"), [
    (lambda x: x, None, ValueError, "not a valid function name"),
    (functools.partial(forecast, days=2), None, ValueError, "not a valid function name"),
    (lambda *args: args, "f", TypeError, r"\*args/\*\*kwargs"),
    (lambda **kw: kw, "f", TypeError, r"\*args/\*\*kwargs"),
    (forecast, "has space", ValueError, "not a valid function name"),
    ("not callable", "f", TypeError, "not callable"),
])
def test_bad_tools_are_refused(function, name, error, match):
    with pytest.raises(error, match=match):
        tool_from_callable(function, name)


def test_unresolvable_hints_are_named():
    def f(x: NoSuchType) -> None:  # type: ignore[name-defined] # noqa: F821
        """Broken."""

    with pytest.raises(TypeError, match="tool 'f': cannot resolve its type hints"):
        tool_from_callable(f)


def test_dispatch_shapes_and_duplicates():
    tools = tools_from_dispatch({"weather": forecast, "fmt": functools.partial(encode_result)})
    assert list(tools) == ["weather", "fmt"] and tools["weather"].spec.name == "weather"
    assert list(tools_from_dispatch([forecast])) == ["forecast"]
    assert tools_from_dispatch(None) == {}
    with pytest.raises(ValueError, match="names 'forecast' twice"):
        tools_from_dispatch([forecast, forecast])
    with pytest.raises(TypeError, match="tool_dispatch must be"):
        tools_from_dispatch("forecast")  # type: ignore[arg-type]


def test_explicit_specs_win_over_derived_ones():
    tools = tools_from_dispatch([forecast])
    explicit = tool_from_callable(lambda: None, "forecast").spec
    assert merge_specs([explicit], tools) == [explicit]
    assert merge_specs(None, tools) == [tools["forecast"].spec]
    assert merge_specs(None, {}) is None


def test_results_are_encoded():
    assert encode_result("plain") == "plain"
    assert encode_result({"a": [1, 2.5, None]}) == '{"a":[1,2.5,null]}'
    assert encode_result(Location(city="Nice")) == '{"city":"Nice","country":"FR"}'
    assert encode_result(datetime.date(2024, 5, 1)) == '"2024-05-01"'
    assert encode_result(None) == "null"
    with pytest.raises(TypeError, match="not JSON-serializable"):
        encode_result(object())


def test_an_unserializable_result_becomes_an_error_result():
    result = call_tool(tool_from_callable(lambda: object(), "f"), ToolCall("1", "f", {}))
    assert result.is_error and "not JSON-serializable" in json.loads(result.content)["error"]


def test_a_raising_tool_never_raises():
    def fail(n: int) -> int:
        raise ZeroDivisionError("division by zero")

    result = call_tool(tool_from_callable(fail), ToolCall("1", "fail", {"n": 1}))
    assert result.is_error and isinstance(result.error, ZeroDivisionError)
    assert json.loads(result.content) == {"error": "ZeroDivisionError: division by zero"}


async def async_double(n: int) -> int:
    await asyncio.sleep(0)
    return n * 2


def test_async_tool_from_sync_code():
    tool = tool_from_callable(async_double)
    assert tool.is_async
    assert call_tool(tool, ToolCall("1", "async_double", {"n": 4})).content == "8"


async def test_async_tool_from_sync_code_inside_a_running_loop():
    # a sync respond() called from async code: the coroutine runs on a helper thread's loop
    assert call_tool(tool_from_callable(async_double), ToolCall("1", "async_double", {"n": 5})).content == "10"


async def test_acall_runs_both_kinds():
    assert (await acall_tool(tool_from_callable(async_double), ToolCall("1", "d", {"n": 2}))).content == "4"
    sync = tool_from_callable(lambda n: n + 1, "inc")
    assert not sync.is_async
    assert (await acall_tool(sync, ToolCall("1", "inc", {"n": 2}))).content == "3"

    async def bad(n: int) -> int:
        raise ValueError("nope")

    failed = await acall_tool(tool_from_callable(bad), ToolCall("1", "bad", {"n": 2}))
    assert failed.is_error and json.loads(failed.content) == {"error": "ValueError: nope"}


def test_callable_objects_are_tools():
    class Adder:
        async def __call__(self, a: int, b: int) -> int:
            """Add two numbers."""
            return a + b

    tool = tool_from_callable(Adder(), "add")
    assert tool.is_async and tool.spec.parameters["required"] == ["a", "b"]
    assert call_tool(tool, ToolCall("1", "add", {"a": 2, "b": 3})).content == "5"
