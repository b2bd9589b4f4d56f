"""Chunking-harness cases for the JSON formats: json (Hermes/Qwen), llama3_json, granite, phi4_mini.

Each case is written from the format's public description and must give the same events
whole, one character at a time, at every two-way split and under 100 random cuttings.
"""

from __future__ import annotations

import json

import pytest
from toolcall_harness import TOOLS, Case, call, check_case, content, rejected

W = {"name": "get_weather", "arguments": {"city": "Paris"}}
TRICKY = {"q": "\" </tool_call> <tool_call> ]}; \"quoted\" \\", "filters": {"a": [1, {"b": "\"}"}]}}


def hermes(obj: object) -> str:
    return f"<tool_call>\n{json.dumps(obj)}\n</tool_call>"


JSON_CASES = [
    Case("no_calls", 'Plain <b>text</b>, a < b, {"json": 1} and <tool_cal stay content.',
         [content('Plain <b>text</b>, a < b, {"json": 1} and <tool_cal stay content.')]),
    Case("one_call", f"Let me check.\n{hermes(W)}\nDone.",
         [content("Let me check.\n"), call("get_weather", {"city": "Paris"}), content("\nDone.")]),
    Case("two_calls",
         hermes({"name": "get_weather", "arguments": {"city": "Oslo", "days": 2}}) + "\n"
         + hermes({"name": "search", "arguments": {"q": "rain"}}),
         [call("get_weather", {"city": "Oslo", "days": 2}),
          call("search", {"q": "rain"})], tools=TOOLS),
    Case("arguments_as_string",
         hermes({"name": "search", "arguments": json.dumps({"q": 'say "hi"'})}),
         [call("search", {"q": 'say "hi"'})]),
    Case("markers_inside_strings", "a" + hermes({"name": "search", "arguments": TRICKY}) + "b",
         [content("a"), call("search", TRICKY), content("b")]),
    Case("malformed", '<tool_call>{"name": get_weather}</tool_call> after',
         [rejected("malformed", '<tool_call>{"name": get_weather}</tool_call>'),
          content(" after")]),
    Case("incomplete", 'Calling <tool_call>{"name": "search", "arguments": {"q": "x',
         [content("Calling "),
          rejected("incomplete", '<tool_call>{"name": "search", "arguments": {"q": "x')]),
    Case("unclosed_string_falls_back_to_the_end_marker",
         '<tool_call>{"name": "search", "arguments": {"q": "oops}}</tool_call> then text',
         [rejected("malformed",
                   '<tool_call>{"name": "search", "arguments": {"q": "oops}}</tool_call>'),
          content(" then text")]),
    Case("undeclared_and_invalid",
         hermes({"name": "delete_all", "arguments": {}})
         + hermes({"name": "get_weather", "arguments": {"days": "two"}}),
         [rejected("undeclared_tool", hermes({"name": "delete_all", "arguments": {}})),
          rejected("invalid_arguments")], tools=TOOLS),
]

LLAMA_CASES = [
    Case("no_calls", 'The answer is 4; {"a": 1} and {"names": 2} are data.',
         [content('The answer is 4; {"a": 1} and {"names": 2} are data.')]),
    Case("python_tag",
         '<|python_tag|>{"name": "get_weather", "parameters": {"city": "Paris"}}',
         [call("get_weather", {"city": "Paris"})]),
    Case("bare_object", 'Sure. {"name": "search", "parameters": {"q": "llama"}}',
         [content("Sure. "), call("search", {"q": "llama"})]),
    Case("semicolon_separated",
         '<|python_tag|>{"name": "get_weather", "parameters": {"city": "Oslo"}}; '
         '{"name": "search", "parameters": {"q": "fjords"}}',
         [call("get_weather", {"city": "Oslo"}), call("search", {"q": "fjords"})]),
    Case("newline_separated",
         '{"name": "search", "parameters": {"q": "a"}}\n{"name": "search", "parameters": {"q": "b"}}',
         [call("search", {"q": "a"}), call("search", {"q": "b"})]),
    Case("type_function_and_text_after",
         'Now: {"type": "function", "name": "search", "parameters": {"q": "x; y }"}}; done',
         [content("Now: "), call("search", {"q": "x; y }"}), content("; done")]),
    Case("python_tag_without_json", '<|python_tag|>print("hi")',
         [rejected("malformed", "<|python_tag|>"), content('print("hi")')]),
    Case("incomplete", 'x {"name": "search", "parameters": {"q": ',
         [content("x "), rejected("incomplete", '{"name": "search", "parameters": {"q": ')]),
    Case("one_bad_call_of_two",
         '<|python_tag|>{"name": "search", "parameters": {}}; {"parameters": {}}',
         [call("search", {}), rejected("malformed", '{"parameters": {}}')]),
    Case("invalid_arguments", '{"name": "search", "parameters": {"limit": 3}}',
         [rejected("invalid_arguments")], tools=TOOLS),
]

GRANITE_CASES = [
    Case("no_calls", "Granite says [1, 2] and <|tool_call| almost.",
         [content("Granite says [1, 2] and <|tool_call| almost.")]),
    Case("one_call", f"<|tool_call|>[{json.dumps(W)}]",
         [call("get_weather", {"city": "Paris"})]),
    Case("two_calls_and_text",
         f"Checking.<|tool_call|>[{json.dumps(W)}, "
         '{"name": "search", "arguments": {"q": "x"}}] ok',
         [content("Checking."), call("get_weather", {"city": "Paris"}),
          call("search", {"q": "x"}), content(" ok")]),
    Case("single_object", '<|tool_call|>{"name": "search", "arguments": {"q": "y"}}',
         [call("search", {"q": "y"})]),
    Case("nested_and_marker_in_string",
         f'<|tool_call|>[{json.dumps({"name": "search", "arguments": TRICKY})}]',
         [call("search", TRICKY)]),
    Case("not_a_list", "<|tool_call|> sorry, no call", [
        rejected("malformed", "<|tool_call|> "), content("sorry, no call")]),
    Case("incomplete", '<|tool_call|>[{"name": "search", "arguments": {"q": "y"}}',
         [rejected("incomplete")]),
    Case("bad_item", '<|tool_call|>[{"name": "search", "arguments": {}}, {"arguments": 1}]',
         [call("search", {}), rejected("malformed", '{"arguments": 1}')]),
]

PHI4_CASES = [
    Case("no_calls", "Use functools.partial, functools [sic] or functools.",
         [content("Use functools.partial, functools [sic] or functools.")]),
    Case("one_call", f"functools[{json.dumps(W)}]", [call("get_weather", {"city": "Paris"})]),
    Case("two_calls",
         f'functools[{json.dumps(W)}, {{"name": "search", "arguments": {{"q": "z"}}}}]',
         [call("get_weather", {"city": "Paris"}), call("search", {"q": "z"})]),
    Case("text_around", f"I'll look. functools[{json.dumps(W)}] Then answer.",
         [content("I'll look. "), call("get_weather", {"city": "Paris"}),
          content(" Then answer.")]),
    Case("nested_and_marker_in_string",
         f'functools[{json.dumps({"name": "search", "arguments": TRICKY})}]',
         [call("search", TRICKY)]),
    Case("malformed", 'functools[{"name": search}]', [rejected("malformed")]),
    Case("incomplete", 'functools[{"name": "search"', [rejected("incomplete")]),
    Case("undeclared", 'functools[{"name": "rm", "arguments": {}}]',
         [rejected("undeclared_tool")], tools=TOOLS),
]


@pytest.mark.parametrize("case", JSON_CASES, ids=lambda c: c.id)
def test_json(case: Case) -> None:
    check_case("json", case)


@pytest.mark.parametrize("case", LLAMA_CASES, ids=lambda c: c.id)
def test_llama3_json(case: Case) -> None:
    check_case("llama3_json", case)


@pytest.mark.parametrize("case", GRANITE_CASES, ids=lambda c: c.id)
def test_granite(case: Case) -> None:
    check_case("granite", case)


@pytest.mark.parametrize("case", PHI4_CASES, ids=lambda c: c.id)
def test_phi4_mini(case: Case) -> None:
    check_case("phi4_mini", case)
