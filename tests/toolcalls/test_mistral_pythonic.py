"""Chunking-harness cases for mistral, pythonic and lfm2 (formats without a JSON wrapper tag)."""

from __future__ import annotations

import pytest
from toolcall_harness import TOOLS, Case, call, check_case, content, rejected, run

MISTRAL_CASES = [
    Case("no_calls", "Lists [1, 2], [TOOL] tags and a trailing [TOOL_CALL",
         [content("Lists [1, 2], [TOOL] tags and a trailing [TOOL_CALL")]),
    Case("list_form",
         '[TOOL_CALLS] [{"name": "get_weather", "arguments": {"city": "Paris"}, "id": "a1b2c3d4e"}]',
         [call("get_weather", {"city": "Paris"})]),
    Case("list_form_two_calls_after_text",
         'Let me see. [TOOL_CALLS][{"name": "search", "arguments": {"q": "a"}}, '
         '{"name": "search", "arguments": "{\\"q\\": \\"b\\"}"}]',
         [content("Let me see. "), call("search", {"q": "a"}), call("search", {"q": "b"})]),
    Case("args_form_two_calls",
         '[TOOL_CALLS]get_weather[ARGS]{"city": "Paris"}[TOOL_CALLS]search[ARGS]{"q": "x"}',
         [call("get_weather", {"city": "Paris"}), call("search", {"q": "x"})]),
    Case("name_then_object",
         '[TOOL_CALLS]search{"q": "[TOOL_CALLS] \\"} {braces}"} and then text',
         [call("search", {"q": '[TOOL_CALLS] "} {braces}'}), content(" and then text")]),
    Case("call_id", '[TOOL_CALLS]search[CALL_ID]abc123XYZ[ARGS]{"q": "a"}',
         [call("search", {"q": "a"})]),
    Case("malformed", "[TOOL_CALLS] hello world",
         [rejected("malformed", "[TOOL_CALLS] hello "), content("world")]),
    Case("incomplete", '[TOOL_CALLS]search[ARGS]{"q": "a',
         [rejected("incomplete", '[TOOL_CALLS]search[ARGS]{"q": "a')]),
    Case("undeclared", '[TOOL_CALLS]rm[ARGS]{"path": "/"}',
         [rejected("undeclared_tool", '[TOOL_CALLS]rm[ARGS]{"path": "/"}')], tools=TOOLS),
]

PYTHONIC_CASES = [
    Case("no_calls", "See [the docs](https://x.y), [Paris (France)], arr[0](x) and [f (x)].",
         [content("See [the docs](https://x.y), [Paris (France)], arr[0](x) and [f (x)].")]),
    Case("one_call", '[get_weather(city="Paris")]', [call("get_weather", {"city": "Paris"})]),
    Case("two_calls_with_literals",
         "[get_weather(city='Oslo', days=3), search(q=\"it's\", tags=['a', 'b'], exact=True, "
         "filters=None)]",
         [call("get_weather", {"city": "Oslo", "days": 3}),
          call("search", {"q": "it's", "tags": ["a", "b"], "exact": True, "filters": None})]),
    Case("text_around_and_json_literals",
         'Checking. [search(q="x", filters={"a": true, "b": null})] Done.',
         [content("Checking. "), call("search", {"q": "x", "filters": {"a": True, "b": None}}),
          content(" Done.")]),
    Case("llama4_wrapper",
         '<|python_start|>[get_weather(city="Rome")]<|python_end|>'
         '<|python_start|>search(q="<|python_end|> ])")<|python_end|>',
         [call("get_weather", {"city": "Rome"}), call("search", {"q": "<|python_end|> ])"})]),
    Case("brackets_and_escapes_in_strings", '[search(q="say \\"] )", tags=["]", \'\\\'[\'])] ok',
         [call("search", {"q": 'say "] )', "tags": ["]", "'["]}), content(" ok")]),
    Case("empty_call_and_dotted_name", "[list_files(), math.sqrt(x=4)]",
         [call("list_files"), call("math.sqrt", {"x": 4})]),
    Case("malformed", '[get_weather(city="Paris", 5)] after',
         [rejected("malformed", '[get_weather(city="Paris", 5)]'), content(" after")]),
    Case("not_a_literal", "[search(q=open('x'))]", [rejected("malformed")]),
    # sets become lists too, as vLLM's lfm2 parser reads them
    # (vllm-project/vllm tests/tool_parsers/test_lfm2_tool_parser.py, SET_ARG_FUNCTION_OUTPUT);
    # bytes have no JSON form and are refused, the sibling call still stands
    Case("tuples_and_sets_become_lists_bytes_are_refused",
         "[f(a=(1, (2,))), g(b={1}), h(c=b'z')]",
         [call("f", {"a": [1, [2]]}), call("g", {"b": [1]}), rejected("malformed", "h(c=b'z')")]),
    Case("incomplete", '[search(q="unterminated', [rejected("incomplete")]),
    Case("invalid_arguments", "[search(q=1)]", [rejected("invalid_arguments")], tools=TOOLS),
]

LFM2_CASES = [
    Case("no_calls", "LFM2 talks about <|tool_call_sta and [f(x=1)] plainly.",
         [content("LFM2 talks about <|tool_call_sta and [f(x=1)] plainly.")]),
    Case("one_call",
         '<|tool_call_start|>[get_weather(city="Paris")]<|tool_call_end|>Checking the weather.',
         [call("get_weather", {"city": "Paris"}), content("Checking the weather.")]),
    Case("two_calls",
         "Sure.<|tool_call_start|>[search(q='a'), search(q='b', limit=2)]<|tool_call_end|>",
         [content("Sure."), call("search", {"q": "a"}), call("search", {"q": "b", "limit": 2})]),
    Case("json_list",
         '<|tool_call_start|>[{"name": "search", "arguments": {"q": "c", "exact": true}}]'
         "<|tool_call_end|>",
         [call("search", {"q": "c", "exact": True})]),
    Case("marker_in_string",
         "<|tool_call_start|>[search(q='''<|tool_call_end|> it's''')]<|tool_call_end|>",
         [call("search", {"q": "<|tool_call_end|> it's"})]),
    Case("malformed", "<|tool_call_start|>[get_weather(city=]<|tool_call_end|> x",
         [rejected("malformed", "<|tool_call_start|>[get_weather(city=]<|tool_call_end|>"),
          content(" x")]),
    Case("complete_without_end_marker", "<|tool_call_start|>[search(q='a')]",
         [call("search", {"q": "a"})]),
    Case("incomplete", "<|tool_call_start|>[search(q='a')", [rejected("incomplete")]),
    Case("invalid_arguments",
         "<|tool_call_start|>[get_weather(city='Rome', days='many')]<|tool_call_end|>",
         [rejected("invalid_arguments")], tools=TOOLS),
]


@pytest.mark.parametrize("case", MISTRAL_CASES, ids=lambda c: c.id)
def test_mistral(case: Case) -> None:
    check_case("mistral", case)


@pytest.mark.parametrize("case", PYTHONIC_CASES, ids=lambda c: c.id)
def test_pythonic(case: Case) -> None:
    check_case("pythonic", case)


@pytest.mark.parametrize("case", LFM2_CASES, ids=lambda c: c.id)
def test_lfm2(case: Case) -> None:
    check_case("lfm2", case)


def test_mistral_keeps_the_models_ids() -> None:
    events, _ = run("mistral", ['[TOOL_CALLS][{"name": "a", "arguments": {}, "id": "a1b2c3d4e"}]'
                                '[TOOL_CALLS]b[CALL_ID]zz9zz9zz9[ARGS]{}'])
    assert [e.id for e in events] == ["a1b2c3d4e", "zz9zz9zz9"]
