"""Gemma-family objects whose key/value pairs come without commas, and FunctionGemma's typed
delimited values, however the stream cuts the keys.

Derived from vllm-project/vllm tests/tool_parsers/test_functiongemma_tool_parser.py
(test_streamed_arguments_form_valid_json_with_two_keys / _three_keys: chunks
``"ty:<escape>NYC<escape>"``, ``"unit:<escape>celsius<escape>"`` with no comma between the pairs;
TestParseArguments: ``count:<escape>42<escape>`` -> 42, ``enabled:<escape>true<escape>`` ->
true) and vllm-project/vllm vllm/tool_parsers/functiongemma_tool_parser.py, which reads the
pairs by pattern and JSON-decodes each value. Gemma 4 writes the same object notation with
``<|"|>`` (vllm/tool_parsers/gemma4_tool_parser.py), so it reads the same pairs.
"""

from __future__ import annotations

import pytest
from toolcall_harness import TOOLS, Case, call, check_case, rejected

X, Q = "<escape>", '<|"|>'
FG = ("<start_function_call>", "<end_function_call>")
G4 = ("<|tool_call>", "<tool_call|>")


def fg(body: str) -> str:
    return f"{FG[0]}call:{body}{FG[1]}"


def g4(body: str) -> str:
    return f"{G4[0]}call:{body}{G4[1]}"


FUNCTION_GEMMA_CASES = [
    Case("two_keys_no_comma", fg(f"get_weather{{city:{X}NYC{X}unit:{X}celsius{X}}}"),
         [call("get_weather", {"city": "NYC", "unit": "celsius"})]),
    Case("three_keys_no_comma", fg(f"search{{query:{X}python{X}limit:{X}10{X}sort:{X}relevance{X}}}"),
         [call("search", {"query": "python", "limit": 10, "sort": "relevance"})]),
    Case("json_values_without_schema",
         fg(f"f{{count:{X}42{X},enabled:{X}true{X},ratio:{X}0.5{X},word:{X}hello world{X}}}"),
         [call("f", {"count": 42, "enabled": True, "ratio": 0.5, "word": "hello world"})]),
    Case("schema_keeps_strings",
         fg(f"search{{q:{X}42{X}limit:{X}7{X}exact:{X}true{X}}}"),
         [call("search", {"q": "42", "limit": 7, "exact": True})], tools=TOOLS),
    Case("schema_refuses", fg(f"search{{q:{X}a{X}limit:{X}many{X}}}"),
         [rejected("invalid_arguments")], tools=TOOLS),
    Case("spaces_and_newlines_between_pairs",
         fg(f"get_weather{{city:{X}Paris{X}\n  days:{X}3{X} }}"),
         [call("get_weather", {"city": "Paris", "days": 3})], tools=TOOLS),
    Case("nested_stays_text", fg(f"f{{o:{{n:{X}42{X}}}}}"), [call("f", {"o": {"n": "42"}})]),
]

GEMMA4_CASES = [
    Case("two_keys_no_comma", g4(f"get_weather{{city:{Q}Paris{Q}days:3}}"),
         [call("get_weather", {"city": "Paris", "days": 3})]),
    Case("nested_no_comma", g4(f"search{{q:{Q}a{Q}filters:{{lang:{Q}en{Q}max:2}}}}"),
         [call("search", {"q": "a", "filters": {"lang": "en", "max": 2}})]),
    Case("gemma4_strings_stay_strings", g4(f"f{{n:{Q}42{Q}}}"), [call("f", {"n": "42"})]),
    # vllm-project/vllm tests/tool_parsers/test_gemma4_tool_parser.py (TestParseGemma4Args)
    Case("reference_null_and_quoted_keys",
         g4(f"f{{param:null,record_map:{{{Q}3{Q}:{Q}new text{Q}}}}}"),
         [call("f", {"param": None, "record_map": {"3": "new text"}})]),
    Case("reference_trailing_dot_float", g4("f{left:108.,right:22.8,x:.5}"),
         [call("f", {"left": 108.0, "right": 22.8, "x": 0.5})]),
    Case("reference_empty_value", g4("f{key:,other:1}"), [call("f", {"key": "", "other": 1})]),
    Case("reference_bracket_in_string", g4(f"f{{items:[[{Q}a]b{Q},{Q}c{Q}],{Q}tail{Q}]}}"),
         [call("f", {"items": [["a]b", "c"], "tail"]})]),
    Case("non_finite_stays_text", g4("f{x:1e999}"), [call("f", {"x": "1e999"})]),
]


@pytest.mark.parametrize("case", FUNCTION_GEMMA_CASES, ids=lambda c: c.id)
def test_function_gemma(case: Case) -> None:
    check_case("function_gemma", case)


@pytest.mark.parametrize("case", GEMMA4_CASES, ids=lambda c: c.id)
def test_gemma4(case: Case) -> None:
    check_case("gemma4", case)
