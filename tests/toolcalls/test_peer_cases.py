"""Example outputs from peers' tool-parser test suites, run through our parsers with the
chunking harness (every two-way split, random cuts, argument deltas on and off).

Each group names its source: vllm-project/vllm tests/tool_parsers/test_<name>_tool_parser.py.
Where a peer returns a cut or unparsable call as content, we return it as a RejectedToolCall
with its raw text (our contract: nothing is dropped, nothing is guessed).
"""

from __future__ import annotations

import json
from typing import Any

import pytest
from toolcall_harness import Case, call, check_case, content, rejected

X = "<escape>"
SB, SE = "<|tool_calls_section_begin|>", "<|tool_calls_section_end|>"
TB, TE, AB = "<|tool_call_begin|>", "<|tool_call_end|>", "<|tool_call_argument_begin|>"
DB, DE, DCB, DCE, DSEP = ("<｜tool▁calls▁begin｜>", "<｜tool▁calls▁end｜>", "<｜tool▁call▁begin｜>",
                          "<｜tool▁call▁end｜>", "<｜tool▁sep｜>")
L1, L2 = "<|tool_call_start|>[", "]<|tool_call_end|>"


def tool(name: str, props: dict[str, Any]) -> dict[str, Any]:
    return {"type": "function", "function": {"name": name, "parameters": {
        "type": "object", "properties": props}}}


WEATHER = tool("get_weather", {"city": {"type": "string"}, "unit": {"type": "string"}})
READ_FILE = tool("read_file", {"path": {"type": "string"}})
BOOK = tool("book_flight", {"city": {"type": "string"}})


def kimi(tool_id: str, args: str) -> str:
    return f"{TB}{tool_id} {AB}{args}{TE}"


PEER_CASES: list[tuple[str, Case]] = [
    # test_glm4_moe_tool_parser.py
    ("glm45", Case("glm_content_before", "I will help you get the weather.<tool_call>get_weather\n"
                   "    <arg_key>city</arg_key>\n    <arg_value>Beijing</arg_value>\n"
                   "    <arg_key>date</arg_key>\n    <arg_value>2025-08-01</arg_value>\n"
                   "    </tool_call>",
                   [content("I will help you get the weather."),
                    call("get_weather", {"city": "Beijing", "date": "2025-08-01"})])),
    ("glm45", Case("glm_thinking_tags", "<think>I want to <tool_call>get_weather</tool_call>"
                   "</think>\n\nI will help.\n<tool_call>get_weather\n<arg_key>city</arg_key>\n"
                   "<arg_value>Beijing</arg_value>\n</tool_call>",
                   [content("<think>I want to <tool_call>get_weather</tool_call></think>\n\n"
                            "I will help.\n"), call("get_weather", {"city": "Beijing"})])),
    ("glm45", Case("glm_empty_arguments", "<tool_call>get_current_time\n</tool_call>",
                   [call("get_current_time", {})])),
    # test_seed_oss_tool_parser.py
    ("seed_oss", Case("seed_call_in_thinking",
                      "<seed:think>The format is <seed:tool_call>\n<function=get_weather>\n"
                      "<parameter=location>Barcelona, Spain</parameter>\n</function>\n"
                      "</seed:tool_call>.</seed:think><seed:tool_call>\n<function=get_weather>\n"
                      "<parameter=location>Barcelona, Spain</parameter>\n</function>\n"
                      "</seed:tool_call>",
                      [content("<seed:think>The format is <seed:tool_call>\n<function=get_weather>"
                               "\n<parameter=location>Barcelona, Spain</parameter>\n</function>\n"
                               "</seed:tool_call>.</seed:think>"),
                       call("get_weather", {"location": "Barcelona, Spain"})])),
    # test_deepseekv31_tool_parser.py
    ("deepseek_v31", Case("v31_two_calls_suffix",
                          f"some prefix text{DB}{DCB}foo{DSEP}{{\"x\":1}}{DCE}"
                          f"{DCB}bar{DSEP}{{\"y\":2}}{DCE}{DE} some suffix text",
                          [content("some prefix text"), call("foo", {"x": 1}), call("bar", {"y": 2}),
                           content(" some suffix text")])),
    ("deepseek_v31", Case("v31_cut_off", f"Let me look that up.{DB}get_weather",
                          [content("Let me look that up."), rejected("incomplete", f"{DB}get_weather")])),
    # test_lfm2_tool_parser.py
    ("lfm2", Case("lfm2_multiline", f"{L1}exec(command='cat > f.py << EOF\nimport csv\nEOF'){L2}",
                  [call("exec", {"command": "cat > f.py << EOF\nimport csv\nEOF"})])),
    ("lfm2", Case("lfm2_leading_zero", f"{L1}set_date(month=07, day=05){L2}",
                  [call("set_date", {"month": 7, "day": 5})])),
    ("lfm2", Case("lfm2_set", f"{L1}label(tags={{'urgent', 'bug'}}){L2}",
                  [call("label", {"tags": ["urgent", "bug"]})])),
    ("lfm2", Case("lfm2_nul", f"{L1}exec(command='printf a\x00b'){L2}",
                  [call("exec", {"command": "printf a\x00b"})])),
    ("lfm2", Case("lfm2_nested_quote", f"{L1}bash(command='sed -n '360,450p' /t/common.py'){L2}",
                  [call("bash", {"command": "sed -n '360,450p' /t/common.py"})])),
    ("lfm2", Case("lfm2_content_after", f"{L1}get_weather(){L2}\nChecking.",
                  [call("get_weather", {}), content("\nChecking.")])),
    ("lfm2", Case("lfm2_whitespace_after_start", "<|tool_call_start|> [f(a='1')]<|tool_call_end|>",
                  [call("f", {"a": "1"})])),
    # ggml-org/llama.cpp tests/chat-parsers/test-lfm2.cpp: LFM2 answering in JSON
    ("lfm2", Case("lfm2_json_two_calls_content_after",
                  '<|tool_call_start|>[{"name": "get_weather", "arguments": {"location": "Paris"}}, '
                  '{"name": "get_time", "arguments": {"timezone": "UTC"}}]<|tool_call_end|>'
                  "Here's the result.",
                  [call("get_weather", {"location": "Paris"}), call("get_time", {"timezone": "UTC"}),
                   content("Here's the result.")])),
    ("lfm2", Case("lfm2_json_newlines", '<|tool_call_start|>[{\n    "name": "get_current_time",\n'
                  '    "arguments": {\n        "location": "Paris"\n    }\n}]<|tool_call_end|>',
                  [call("get_current_time", {"location": "Paris"})])),
    ("lfm2", Case("lfm2_json_escapes", '<|tool_call_start|>[{"name": "f", "arguments": '
                  '{"u": "http:\\/\\/x.com", "n": null, "e": "caf\\u00e9"}}]<|tool_call_end|>',
                  [call("f", {"u": "http://x.com", "n": None, "e": "café"})])),
    # ggml-org/llama.cpp tests/chat-parsers/test-seed-oss.cpp: a call without </seed:tool_call>
    ("seed_oss", Case("seed_unclosed_wrapper", "<seed:tool_call>\n<function=special_function>\n"
                      "<parameter=arg1>\n42\n</parameter>\n</function>",
                      [call("special_function", {"arg1": "42"})])),
    # test_functiongemma_tool_parser.py
    ("function_gemma", Case("fg_streamed_keys", f"<start_function_call>call:get_weather{{city:{X}NYC"
                            f"{X}unit:{X}celsius{X}}}<end_function_call>",
                            [call("get_weather", {"city": "NYC", "unit": "celsius"})])),
    ("function_gemma", Case("fg_numbers", f"<start_function_call>call:search{{query:{X}python{X}"
                            f"limit:{X}10{X}}}<end_function_call>",
                            [call("search", {"query": "python", "limit": 10})])),
    ("function_gemma", Case("fg_text_before", "Let me check. <start_function_call>call:get_weather"
                            f"{{location:{X}Paris{X}}}<end_function_call>",
                            [content("Let me check. "), call("get_weather", {"location": "Paris"})])),
    # test_kimi_k2_tool_parser.py
    ("kimi_k2", Case("kimi_space_before_args", "I'll check. " + SB
                     + kimi("functions.get_weather:0", '{"city": "Beijing"}') + SE,
                     [content("I'll check. "), call("get_weather", {"city": "Beijing"})])),
    ("kimi_k2", Case("kimi_bare_counter", "Let me check. " + SB
                     + kimi("0", '{"city": "Tokyo", "unit": "celsius"}') + SE,
                     [content("Let me check. "), call("get_weather", {"city": "Tokyo", "unit": "celsius"})],
                     tools=[WEATHER])),
    ("kimi_k2", Case("kimi_bare_counter_by_args", "Let me check. " + SB
                     + kimi("0", '{"city": "Tokyo", "unit": "celsius"}') + SE,
                     [content("Let me check. "), call("get_weather", {"city": "Tokyo", "unit": "celsius"})],
                     tools=[READ_FILE, WEATHER])),
    ("kimi_k2", Case("kimi_bare_counter_ambiguous", "Let me check. " + SB
                     + kimi("0", '{"city": "Tokyo"}') + SE,
                     [content("Let me check. "), rejected("malformed")], tools=[WEATHER, BOOK])),
    ("kimi_k2", Case("kimi_invalid_id_skipped", "Help. " + SB
                     + kimi("functions.invalid.0", '{"city": "Beijing"}')
                     + kimi("functions.valid:1", '{"city": "Shanghai"}') + SE,
                     [content("Help. "), rejected("malformed"), call("valid", {"city": "Shanghai"})])),
    # test_hermes_tool_parser.py
    ("json", Case("hermes_until_eos", '<tool_call>\n{"name": "final_answer", "arguments": '
                  '{"trigger": true}}', [call("final_answer", {"trigger": True})])),
    ("json", Case("hermes_serialized_arguments", '<tool_call>\n{"name": "get_db_config", '
                  '"arguments": ' + json.dumps(json.dumps({"param": "max_connections"}))
                  + "}\n</tool_call>", [call("get_db_config", {"param": "max_connections"})])),
    # test_pythonic_tool_parser.py: a number that overflows to inf is no JSON value, its call
    # is refused and the sibling stands; a sibling with a stray quote does not sink the list
    # (we read the quote as the model meant it, see pyliterals)
    ("pythonic", Case("pythonic_non_finite", "[calc(x=1e999), get_weather(city='SF')]",
                      [rejected("malformed", "calc(x=1e999)"), call("get_weather", {"city": "SF"})])),
    ("pythonic", Case("pythonic_stray_quote_sibling", "[get_weather(city='SF'), f(a='x 'y', b='z')]",
                      [call("get_weather", {"city": "SF"}), call("f", {"a": "x 'y", "b": "z"})])),
    ("json", Case("hermes_non_finite", '<tool_call>{"name": "calc", "arguments": {"x": 1e999}}'
                  "</tool_call>", [rejected("malformed")])),
    ("mistral", Case("mistral_non_finite", '[TOOL_CALLS]calc[ARGS]{"x": -1e999}',
                     [rejected("malformed")])),
    # test_minimax_m2_tool_parser.py
    ("minimax_m2", Case("minimax_two_invokes", '<minimax:tool_call><invoke name="fn_a"><parameter '
                        'name="x">1</parameter></invoke><invoke name="fn_b"><parameter name="y">2'
                        "</parameter></invoke></minimax:tool_call>",
                        [call("fn_a", {"x": "1"}), call("fn_b", {"y": "2"})])),
]


@pytest.mark.parametrize("fmt,case", PEER_CASES, ids=lambda v: v.id if isinstance(v, Case) else v)
def test_peer_case(fmt: str, case: Case) -> None:
    check_case(fmt, case, random_count=30)
