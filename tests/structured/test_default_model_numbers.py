"""On the default model (slow): the schema that made it write ``"population": 1111…`` until
``max_tokens`` now yields JSON that validates, its integer bounded to I-JSON's range."""

from __future__ import annotations

from collections.abc import Iterator

import jsonschema
import pytest

import lmstream

pytestmark = pytest.mark.slow
pytest.importorskip("llguidance")

CITY = {"type": "object", "properties": {"city": {"type": "string"}, "population": {"type": "integer"}},
        "required": ["city", "population"]}


@pytest.fixture(scope="module")
def model() -> Iterator[lmstream.ModelContext]:
    """The default model on MLX, loaded once for the module (on llama.cpp the same greedy run adds
    properties the schema leaves open until max_tokens: a different weakness, not the numbers')."""
    context = lmstream.load(backend="mlx")
    try:
        yield context
    finally:
        context.close()


PROMPTS = [
    "Give the city Paris and its population as JSON.",
    # the model copies the digits: before the bound it wrote them until max_tokens
    "The population of Onesville is " + "1" * 60 + ". Give the city and its population as JSON.",
    "Write a JSON object for the city Paris with a population of " + "9" * 40 + " people.",
]


@pytest.mark.parametrize("prompt", PROMPTS, ids=["plain", "ones", "nines"])
def test_city_and_population_validate(model: lmstream.ModelContext, prompt: str) -> None:
    result = model.generate(messages=[{"role": "user", "content": prompt}], constrain_reasoning=True,
                            response_format={"type": "json_schema", "json_schema": {"name": "city", "schema": CITY}},
                            max_tokens=80)
    assert result.stop_reason == "stop", result.text
    jsonschema.validate(result.parsed, CITY)
    assert abs(result.parsed["population"]) <= 2**53 - 1
