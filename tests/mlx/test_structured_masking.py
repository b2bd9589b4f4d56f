"""MLX masking: the shared mask helpers, and a random tiny model whose every output is forced
into a regex / schema (so the mask, not the weights, decides)."""

from __future__ import annotations

import json
import re
from typing import Any

import numpy as np
import pytest

pytest.importorskip("mlx")
pytest.importorskip("llguidance")


def test_apply_token_mask_and_its_batched_form() -> None:
    import mlx.core as mx

    from lmstream_mlx.sampling import apply_token_mask, apply_token_masks

    logits = mx.zeros((3, 5))
    mask = np.array([True, False, True, False, False])
    assert apply_token_mask(logits[0:1], mask).tolist() == [[0, -np.inf, 0, -np.inf, -np.inf]]
    out = apply_token_masks(logits, [None, mask, np.array([False, False, False, True])])
    assert out.tolist() == [[0.0] * 5, [0, -np.inf, 0, -np.inf, -np.inf],
                            [-np.inf, -np.inf, -np.inf, 0, -np.inf]]
    assert apply_token_masks(logits, [None, None, None]) is logits


@pytest.mark.parametrize("setting", [{}, {"temperature": 1.0, "seed": 3}])
def test_a_random_model_is_forced_into_a_regex(tiny_context: Any, setting: dict[str, Any]) -> None:
    result = tiny_context.generate("x", max_tokens=24, constrain_reasoning=True, **setting,
                                   response_format={"type": "regex", "pattern": "(ab|cd){2,3}!"})
    assert result.stop_reason == "stop", result.text
    assert re.fullmatch("(ab|cd){2,3}!", result.text)


def test_a_random_model_is_forced_into_a_schema(tiny_context: Any) -> None:
    schema = {"type": "object", "properties": {"k": {"enum": ["yes", "no"]}, "n": {"type": "integer",
              "minimum": 0, "maximum": 9}}, "required": ["k", "n"], "additionalProperties": False}
    result = tiny_context.generate("x", max_tokens=40, constrain_reasoning=True,
                                   response_format={"type": "json_schema", "json_schema": {"schema": schema}})
    assert result.stop_reason == "stop", result.text
    value = json.loads(result.text)
    assert value["k"] in ("yes", "no") and 0 <= value["n"] <= 9
