"""What Hermes-style models (Hermes 2/3, Qwen2.5, small Qwen3) also write for a call, read by
the ``json`` format as llama.cpp's Hermes 2 Pro parser reads it (except its ```json fences,
left to the generic format: watching for them would slow every backtick of plain text).

Derived from ggml-org/llama.cpp common/chat.cpp (common_chat_parse_hermes_2_pro: its open regex
accepts an optional ```json / ```xml fence, one of <tool_call> <function_call> <tool> <tools>
<response> <json> <xml> <JSON> before '{"name"', and <function=name>{...}</function> or
<function name="name">{...}</function>) and its test file's Hermes 2 Pro cases. A tag or a fence
counts only when a call follows it written name first ({"name": "f", ...}); an object with a
name but no "arguments" is malformed (its text kept).
"""

from __future__ import annotations

import json

import pytest
from toolcall_harness import TOOLS, Case, call, check_case, content, rejected

J = json.dumps({"name": "get_weather", "arguments": {"city": "Paris"}})
P = json.dumps({"name": "get_weather", "parameters": {"city": "Paris"}})
PARIS = call("get_weather", {"city": "Paris"})

CASES = [
    Case("function_call_tag", f"Sure. <function_call>{J}</function_call> ok",
         [content("Sure. "), PARIS, content(" ok")]),
    Case("tools_tag_newlines", f"<tools>\n{J}\n</tools>", [PARIS]),
    Case("tool_tag_parameters", f"<tool>{P}</tool>", [PARIS]),
    Case("response_and_json_tags", f"<response>{J}</response><json>{J}</json>", [PARIS, PARIS]),
    Case("fences_stay_content", f"Here:\n```json\n{J}\n```\nDone.",
         [content(f"Here:\n```json\n{J}\n```\nDone.")]),
    Case("function_equals", '<function=get_weather>{"city": "Paris"}</function> ok',
         [PARIS, content(" ok")]),
    Case("function_name_attribute", '<function name="get_weather">{"city": "Paris"}</function>',
         [PARIS]),
    Case("two_function_tags",
         '<function=get_weather>{"city": "Paris"}</function>\n'
         '<function=get_weather>{"city": "Rome"}</function>',
         [PARIS, call("get_weather", {"city": "Rome"})]),
    Case("unclosed_tag_at_end", f"<function_call>{J}", [PARIS]),
    Case("tagged_object_without_arguments", '<json>{"name": "John", "age": 30}</json>',
         [rejected("malformed", '<json>{"name": "John", "age": 30}</json>')]),
    Case("tagged_data_stays_content", '<json>{"name": 1}</json>',
         [content('<json>{"name": 1}</json>')]),
    Case("code_fence_stays_content", "Run:\n```python\nprint('{\"name\": 1}')\n```",
         [content("Run:\n```python\nprint('{\"name\": 1}')\n```")]),
    Case("function_tag_bad_json", '<function=get_weather>{"city": Paris}</function>',
         [rejected("malformed")]),
    Case("undeclared_in_tag", '<function_call>{"name": "rm", "arguments": {}}</function_call>',
         [rejected("undeclared_tool")], tools=TOOLS),
]


@pytest.mark.parametrize("case", CASES, ids=lambda c: c.id)
def test_hermes_variant(case: Case) -> None:
    check_case("json", case)
