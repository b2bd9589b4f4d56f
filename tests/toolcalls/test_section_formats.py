"""Chunking-harness cases for the formats with special-token sections and their own object
syntax: deepseek_v3, deepseek_v31, kimi_k2, gemma4, function_gemma."""

from __future__ import annotations

import json

import pytest
from toolcall_harness import TOOLS, Case, call, check_case, content, rejected, run

B, E = "<｜tool▁calls▁begin｜>", "<｜tool▁calls▁end｜>"
CB, CE, SEP = "<｜tool▁call▁begin｜>", "<｜tool▁call▁end｜>", "<｜tool▁sep｜>"
TRICKY = {"q": f"\" {CE}{E} \"quoted\" {{}}", "filters": {"nested": [1, {"x": "\"]"}]}}


def v3_call(name: str, args: object) -> str:
    return f"{CB}function{SEP}{name}\n```json\n{json.dumps(args)}\n```{CE}"


def v31_call(name: str, args: object) -> str:
    return f"{CB}{name}{SEP}{json.dumps(args)}{CE}"


def deepseek_cases(one: object) -> list[Case]:
    def c(name: str, args: object) -> str:
        return one(name, args)  # type: ignore[operator]

    return [
        Case("no_calls", "DeepSeek prose with <｜tool▁ half markers and ```json fences```.",
             [content("DeepSeek prose with <｜tool▁ half markers and ```json fences```.")]),
        Case("one_call", "Let me check." + B + c("get_weather", {"city": "Paris"}) + E + "Done.",
             [content("Let me check."), call("get_weather", {"city": "Paris"}), content("Done.")]),
        Case("two_calls", B + c("search", {"q": "a"}) + "\n" + c("search", {"q": "b"}) + E,
             [call("search", {"q": "a"}), call("search", {"q": "b"})]),
        Case("markers_inside_strings", B + c("search", TRICKY) + E, [call("search", TRICKY)]),
        Case("one_bad_block", B + c("search", {"q": "a"}) + f"{CB}oops{CE}" + E,
             [call("search", {"q": "a"}), rejected("malformed", f"{CB}oops{CE}")]),
        Case("stray_text", B + "hmm" + c("search", {"q": "a"}) + E,
             [rejected("malformed", "hmm"), call("search", {"q": "a"})]),
        Case("complete_without_end_marker", B + c("search", {"q": "a"}),
             [call("search", {"q": "a"})]),
        Case("incomplete", B + c("search", {"q": "a"})[:-8], [rejected("incomplete")]),
        Case("undeclared_and_invalid", B + c("rm", {}) + c("search", {"q": 1}) + E,
             [rejected("undeclared_tool", c("rm", {})), rejected("invalid_arguments")],
             tools=TOOLS),
    ]


KB, KE = "<|tool_calls_section_begin|>", "<|tool_calls_section_end|>"
KCB, KCE, KA = "<|tool_call_begin|>", "<|tool_call_end|>", "<|tool_call_argument_begin|>"


def kimi(call_id: str, args: object) -> str:
    return f"{KCB}{call_id}{KA}{json.dumps(args)}{KCE}"


KIMI_CASES = [
    Case("no_calls", "Kimi says <|tool_calls_section and <|im_end| in text.",
         [content("Kimi says <|tool_calls_section and <|im_end| in text.")]),
    Case("one_call", "Checking." + KB + kimi("functions.get_weather:0", {"city": "Paris"}) + KE,
         [content("Checking."), call("get_weather", {"city": "Paris"})]),
    Case("two_calls_text_after",
         KB + kimi("functions.search:0", {"q": "a"}) + kimi("functions.search:1", {"q": "b"})
         + KE + " ok",
         [call("search", {"q": "a"}), call("search", {"q": "b"}), content(" ok")]),
    Case("markers_inside_strings",
         KB + kimi("functions.search:2", {"q": f"\" {KCE}{KE}", "filters": {"a": "}"}}) + KE,
         [call("search", {"q": f"\" {KCE}{KE}", "filters": {"a": "}"}})]),
    Case("bad_json", KB + f"{KCB}functions.search:0{KA}{{q: 1}}{KCE}" + KE,
         [rejected("malformed", KB + f"{KCB}functions.search:0{KA}{{q: 1}}{KCE}" + KE)]),
    Case("complete_without_end_marker", KB + kimi("functions.search:0", {"q": "a"}),
         [call("search", {"q": "a"})]),
    Case("incomplete", KB + kimi("functions.search:0", {"q": "a"})[:-6], [rejected("incomplete")]),
    Case("invalid_arguments", KB + kimi("functions.get_weather:0", {"days": 1}) + KE,
         [rejected("invalid_arguments")], tools=TOOLS),
]

Q = '<|"|>'
GEMMA4_CASES = [
    Case("no_calls", "Gemma writes call:f{x} and <|tool_call in prose.",
         [content("Gemma writes call:f{x} and <|tool_call in prose.")]),
    Case("one_call", f"Sure.<|tool_call>call:get_weather{{city:{Q}Paris{Q},days:3}}<tool_call|>",
         [content("Sure."), call("get_weather", {"city": "Paris", "days": 3})]),
    Case("two_calls",
         f"<|tool_call>call:search{{q:{Q}a{Q}}}<tool_call|><|tool_call>call:search{{q:{Q}b{Q},"
         f"exact:true}}<tool_call|> done",
         [call("search", {"q": "a"}), call("search", {"q": "b", "exact": True}),
          content(" done")]),
    Case("nested_values",
         f"<|tool_call>call:search{{q:{Q}x, y{Q},filters:{{lang:{Q}en{Q},max:2.5}},"
         f"tags:[{Q}a{Q},{Q}b{Q}]}}<tool_call|>",
         [call("search", {"q": "x, y", "filters": {"lang": "en", "max": 2.5}, "tags": ["a", "b"]})]),
    Case("end_marker_inside_a_string",
         f"<|tool_call>call:search{{q:{Q}<tool_call|> {{}} {Q}}}<tool_call|>",
         [call("search", {"q": "<tool_call|> {} "})]),
    Case("malformed", "<|tool_call>get_weather(city)<tool_call|> x",
         [rejected("malformed", "<|tool_call>get_weather(city)<tool_call|>"), content(" x")]),
    Case("incomplete", f"<|tool_call>call:search{{q:{Q}a", [rejected("incomplete")]),
    Case("undeclared", f"<|tool_call>call:rm{{path:{Q}/{Q}}}<tool_call|>",
         [rejected("undeclared_tool")], tools=TOOLS),
]

X = "<escape>"
FUNCTION_GEMMA_CASES = [
    Case("no_calls", "FunctionGemma prose <start_function and <escape> tags.",
         [content("FunctionGemma prose <start_function and <escape> tags.")]),
    Case("one_call",
         f"<start_function_call>call:get_weather{{city:{X}Paris{X}}}<end_function_call>",
         [call("get_weather", {"city": "Paris"})]),
    Case("numbers_and_text_around",
         f"Ok <start_function_call>call:search{{q:{X}a{X},limit:5}}<end_function_call> then",
         [content("Ok "), call("search", {"q": "a", "limit": 5}), content(" then")]),
    Case("two_calls",
         f"<start_function_call>call:search{{q:{X}a{X}}}<end_function_call>"
         f"<start_function_call>call:search{{q:{X}b{X}}}<end_function_call>",
         [call("search", {"q": "a"}), call("search", {"q": "b"})]),
    Case("end_marker_inside_a_string",
         f"<start_function_call>call:search{{q:{X}<end_function_call>,:{{{X}}}<end_function_call>",
         [call("search", {"q": "<end_function_call>,:{"})]),
    Case("malformed", f"<start_function_call>call:search{{q {X}a{X}}}<end_function_call>",
         [rejected("malformed")]),
    Case("incomplete", "<start_function_call>call:search{", [rejected("incomplete")]),
    Case("invalid_arguments",
         f"<start_function_call>call:search{{q:{X}a{X},limit:{X}many{X}}}<end_function_call>",
         [rejected("invalid_arguments")], tools=TOOLS),
]


@pytest.mark.parametrize("case", deepseek_cases(v3_call), ids=lambda c: c.id)
def test_deepseek_v3(case: Case) -> None:
    check_case("deepseek_v3", case)


@pytest.mark.parametrize("case", deepseek_cases(v31_call), ids=lambda c: c.id)
def test_deepseek_v31(case: Case) -> None:
    check_case("deepseek_v31", case)


@pytest.mark.parametrize("case", KIMI_CASES, ids=lambda c: c.id)
def test_kimi_k2(case: Case) -> None:
    check_case("kimi_k2", case)


@pytest.mark.parametrize("case", GEMMA4_CASES, ids=lambda c: c.id)
def test_gemma4(case: Case) -> None:
    check_case("gemma4", case)


@pytest.mark.parametrize("case", FUNCTION_GEMMA_CASES, ids=lambda c: c.id)
def test_function_gemma(case: Case) -> None:
    check_case("function_gemma", case)


def test_kimi_ids_come_from_the_text() -> None:
    text = KB + kimi("functions.search:0", {"q": "a"}) + kimi("functions.search:1", {}) + KE
    events, parser = run("kimi_k2", [text])
    assert [e.id for e in events] == ["functions.search:0", "functions.search:1"]
    assert parser.call_text["functions.search:1"] == kimi("functions.search:1", {})


def test_kimi_repeated_id_gets_a_fresh_one() -> None:
    text = KB + kimi("functions.search:0", {}) + kimi("functions.search:0", {}) + KE
    events, _ = run("kimi_k2", [text])
    assert events[0].id == "functions.search:0"
    assert events[1].id.startswith("call_")
