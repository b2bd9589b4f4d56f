"""Chunking-harness cases for the XML-style formats: qwen3_coder, seed_oss, minimax_m2,
deepseek_v32 (DSML), glm45 and glm47. Values are text, typed by the tool's schema."""

from __future__ import annotations

import pytest
from toolcall_harness import TOOLS, Case, call, check_case, content, rejected


def qwen(name: str, params: dict[str, str], start: str = "<tool_call>",
         end: str = "</tool_call>") -> str:
    body = "".join(f"<parameter={k}>\n{v}\n</parameter>\n" for k, v in params.items())
    return f"{start}\n<function={name}>\n{body}</function>\n{end}"


def qwen_cases(start: str, end: str) -> list[Case]:
    def q(name: str, params: dict[str, str]) -> str:
        return qwen(name, params, start, end)

    return [
        Case("no_calls", "Text with <b>tags</b>, <function=x> and <tool half-tags.",
             [content("Text with <b>tags</b>, <function=x> and <tool half-tags.")]),
        Case("typed_by_schema", "Let me check.\n" + q("get_weather", {"city": "Paris", "days": "3"}),
             [content("Let me check.\n"), call("get_weather", {"city": "Paris", "days": 3})],
             tools=TOOLS),
        Case("untyped_without_tools", q("get_weather", {"city": "Paris", "days": "3"}),
             [call("get_weather", {"city": "Paris", "days": "3"})]),
        Case("two_calls_and_objects",
             q("search", {"q": "a", "filters": '{"lang": "en"}', "tags": '["x", "y"]',
                          "exact": "true"}) + "\n" + q("search", {"q": "b"}),
             [call("search", {"q": "a", "filters": {"lang": "en"}, "tags": ["x", "y"],
                              "exact": True}), call("search", {"q": "b"})],
             tools=TOOLS),
        Case("end_marker_inside_a_value",
             q("search", {"q": f"print('{end} <function=x>')\nif a < b: pass"}) + " after",
             [call("search", {"q": f"print('{end} <function=x>')\nif a < b: pass"}),
              content(" after")]),
        Case("missing_parameter_close",
             f"{start}\n<function=search>\n<parameter=q>\nhello\n<parameter=limit>\n5\n"
             f"</parameter>\n</function>\n{end}",
             [call("search", {"q": "hello", "limit": 5})], tools=TOOLS),
        Case("malformed", f"{start}\nget_weather(city='x')\n{end} ok",
             [rejected("malformed", f"{start}\nget_weather(city='x')\n{end}"), content(" ok")]),
        Case("incomplete", f"{start}\n<function=search>\n<parameter=q>\nunfinished",
             [rejected("incomplete")]),
        Case("invalid_arguments", q("get_weather", {"city": "Rome", "days": "soon"}),
             [rejected("invalid_arguments")], tools=TOOLS),
    ]


QWEN3_CODER_CASES = qwen_cases("<tool_call>", "</tool_call>")
SEED_OSS_CASES = [
    *qwen_cases("<seed:tool_call>", "</seed:tool_call>"),
    Case("hermes_tags_are_text", "<tool_call>not seed</tool_call>",
         [content("<tool_call>not seed</tool_call>")]),
]


def minimax(*invokes: tuple[str, dict[str, str]]) -> str:
    body = "".join(
        f'<invoke name="{name}">\n'
        + "".join(f'<parameter name="{k}">{v}</parameter>\n' for k, v in params.items())
        + "</invoke>\n" for name, params in invokes)
    return f"<minimax:tool_call>\n{body}</minimax:tool_call>"


MINIMAX_CASES = [
    Case("no_calls", "MiniMax <invoke> and <minimax:tool_ca are text.",
         [content("MiniMax <invoke> and <minimax:tool_ca are text.")]),
    Case("one_call", "Sure." + minimax(("get_weather", {"city": "Paris", "days": "2"})),
         [content("Sure."), call("get_weather", {"city": "Paris", "days": 2})], tools=TOOLS),
    Case("two_invokes", minimax(("search", {"q": "a"}), ("search", {"q": "b", "limit": "3"})),
         [call("search", {"q": "a"}), call("search", {"q": "b", "limit": 3})], tools=TOOLS),
    Case("end_marker_inside_a_value",
         minimax(("search", {"q": "</minimax:tool_call></invoke> x"})) + " done",
         [call("search", {"q": "</minimax:tool_call></invoke> x"}), content(" done")]),
    Case("one_undeclared_of_two", minimax(("search", {"q": "a"}), ("zap", {})),
         [call("search", {"q": "a"}), rejected("undeclared_tool", '<invoke name="zap">\n</invoke>')],
         tools=TOOLS),
    Case("stray_text", "<minimax:tool_call>\nhello\n</minimax:tool_call>",
         [rejected("malformed", "<minimax:tool_call>\nhello\n</minimax:tool_call>")]),
    Case("incomplete", '<minimax:tool_call>\n<invoke name="search">\n<parameter name="q">a',
         [rejected("incomplete")]),
]

DS = "｜DSML｜"


def dsml(*invokes: tuple[str, list[tuple[str, str, str]]]) -> str:
    body = "".join(
        f'<{DS}invoke name="{name}">\n'
        + "".join(f'<{DS}parameter name="{k}" string="{s}">{v}</{DS}parameter>\n'
                  for k, s, v in params)
        + f"</{DS}invoke>\n" for name, params in invokes)
    return f"<{DS}function_calls>\n{body}</{DS}function_calls>"


DEEPSEEK_V32_CASES = [
    Case("no_calls", "DeepSeek writes <｜DSML｜ rarely in prose.",
         [content("DeepSeek writes <｜DSML｜ rarely in prose.")]),
    Case("one_call", "Checking." + dsml(("get_weather", [("city", "true", "杭州"),
                                                         ("days", "false", "2")])),
         [content("Checking."), call("get_weather", {"city": "杭州", "days": 2})]),
    Case("json_values", dsml(("search", [("q", "true", "a"), ("filters", "false", '{"x": [1]}'),
                                         ("exact", "false", "true")])),
         [call("search", {"q": "a", "filters": {"x": [1]}, "exact": True})]),
    Case("two_invokes_text_after",
         dsml(("search", [("q", "true", "a")]), ("search", [("q", "true", "b")])) + "\nok",
         [call("search", {"q": "a"}), call("search", {"q": "b"}), content("\nok")]),
    Case("end_marker_inside_a_value",
         dsml(("search", [("q", "true", f"</{DS}function_calls> \" '")])),
         [call("search", {"q": f"</{DS}function_calls> \" '"})]),
    Case("bad_json_value", dsml(("search", [("q", "false", "not json")])),
         [rejected("malformed")]),
    Case("incomplete", f'<{DS}function_calls>\n<{DS}invoke name="search">',
         [rejected("incomplete")]),
    Case("invalid_arguments", dsml(("get_weather", [("days", "false", "3")])),
         [rejected("invalid_arguments")], tools=TOOLS),
]


def glm(name: str, params: dict[str, str], newlines: bool) -> str:
    nl = "\n" if newlines else ""
    pairs = "".join(f"<arg_key>{k}</arg_key>{nl}<arg_value>{v}</arg_value>{nl}"
                    for k, v in params.items())
    return f"<tool_call>{name}{nl}{pairs}</tool_call>"


def glm_cases(newlines: bool) -> list[Case]:
    def g(name: str, params: dict[str, str]) -> str:
        return glm(name, params, newlines)

    return [
        Case("no_calls", "GLM mentions <arg_key> and <tool_ca in text.",
             [content("GLM mentions <arg_key> and <tool_ca in text.")]),
        Case("one_call", "Sure.\n" + g("get_weather", {"city": "Paris", "days": "3"}),
             [content("Sure.\n"), call("get_weather", {"city": "Paris", "days": 3})], tools=TOOLS),
        Case("no_arguments", g("list_files", {}) + " done",
             [call("list_files"), content(" done")]),
        Case("two_calls_object_value",
             g("search", {"q": " padded ", "filters": '{"a": 1}'}) + "\n" + g("search", {"q": "b"}),
             [call("search", {"q": " padded ", "filters": {"a": 1}}),
              call("search", {"q": "b"})], tools=TOOLS),
        Case("end_marker_inside_a_value", g("search", {"q": "</tool_call><tool_call>"}),
             [call("search", {"q": "</tool_call><tool_call>"})]),
        Case("malformed", "<tool_call>search<arg_key>q<arg_value>x</arg_value></tool_call>",
             [rejected("malformed")]),
        Case("incomplete", "<tool_call>search<arg_key>q</arg_key><arg_value>x",
             [rejected("incomplete")]),
        Case("undeclared", g("rm", {"path": "/"}), [rejected("undeclared_tool")], tools=TOOLS),
    ]


@pytest.mark.parametrize("case", QWEN3_CODER_CASES, ids=lambda c: c.id)
def test_qwen3_coder(case: Case) -> None:
    check_case("qwen3_coder", case)


@pytest.mark.parametrize("case", SEED_OSS_CASES, ids=lambda c: c.id)
def test_seed_oss(case: Case) -> None:
    check_case("seed_oss", case)


@pytest.mark.parametrize("case", MINIMAX_CASES, ids=lambda c: c.id)
def test_minimax_m2(case: Case) -> None:
    check_case("minimax_m2", case)


@pytest.mark.parametrize("case", DEEPSEEK_V32_CASES, ids=lambda c: c.id)
def test_deepseek_v32(case: Case) -> None:
    check_case("deepseek_v32", case)


@pytest.mark.parametrize("case", glm_cases(newlines=True), ids=lambda c: c.id)
def test_glm45(case: Case) -> None:
    check_case("glm45", case)


@pytest.mark.parametrize("case", glm_cases(newlines=False), ids=lambda c: c.id)
def test_glm47(case: Case) -> None:
    check_case("glm47", case)
