"""Real model output that the strict grammar would miss: a complete call whose end marker never
came, a call without its opening marker, unescaped quotes in pythonic strings, ill-formed Kimi
ids, calls written inside reasoning and pathological nesting. Every case runs through the
chunking harness (whole, per character, every two-way split, random cuts; deltas on and off).
"""

from __future__ import annotations

import json
from typing import Any

import pytest
from test_properties import FRAGMENTS
from toolcall_harness import (
    TOOLS,
    Case,
    call,
    check_case,
    content,
    reasoning,
    rebuild,
    rejected,
    run,
)

import lmstream
from lmstream import Chunk, ToolCall


def hermes_body(name: str, args: dict[str, Any]) -> str:
    return json.dumps({"name": name, "arguments": args})


KB, KE = "<|tool_calls_section_begin|>", "<|tool_calls_section_end|>"
KCB, KA, KCE = "<|tool_call_begin|>", "<|tool_call_argument_begin|>", "<|tool_call_end|>"
DB, DCB, DSEP, DCE = ("<｜tool▁calls▁begin｜>", "<｜tool▁call▁begin｜>", "<｜tool▁sep｜>",
                      "<｜tool▁call▁end｜>")

MISSING_END: list[tuple[str, Case]] = [
    ("json", Case("hermes_no_close", "Sure. <tool_call>" + hermes_body("search", {"q": "a"}),
                  [content("Sure. "), call("search", {"q": "a"})])),
    ("json", Case("hermes_no_close_newline", "<tool_call>\n" + hermes_body("search", {"q": "}"})
                  + "\n", [call("search", {"q": "}"})])),
    ("json", Case("hermes_incomplete_body_is_kept",
                  '<tool_call>{"name": "search", "arguments": {"q": "a"}',
                  [rejected("incomplete", '<tool_call>{"name": "search", "arguments": {"q": "a"}')])),
    ("pythonic", Case("llama4_no_python_end", "<|python_start|>[search(q='a'), search(q='b')]",
                      [call("search", {"q": "a"}), call("search", {"q": "b"})])),
    ("lfm2", Case("lfm2_no_end", "<|tool_call_start|>[search(q='a')]",
                  [call("search", {"q": "a"})])),
    ("kimi_k2", Case("kimi_no_section_end", KB + f"{KCB}functions.search:0{KA}{{\"q\": \"a\"}}{KCE}",
                     [call("search", {"q": "a"})])),
    ("deepseek_v31", Case("deepseek_no_calls_end",
                          DB + f'{DCB}search{DSEP}{{"q": "a"}}{DCE}',
                          [call("search", {"q": "a"})])),
]

MISSING_START: list[tuple[str, Case]] = [
    ("qwen3_coder", Case("bare_function", "Ok.\n<function=search>\n<parameter=q>\nx\n</parameter>\n"
                         "</function>", [content("Ok.\n"), call("search", {"q": "x"})])),
    ("qwen3_coder", Case("bare_function_no_parameters", "<function=search>\n</function> done",
                         [call("search"), content(" done")])),
    ("qwen3_coder", Case("bare_function_end_inside_value",
                         "<function=search><parameter=q>a </function> b</parameter></function>",
                         [call("search", {"q": "a </function> b"})])),
    ("qwen3_coder", Case("prose_function_tag_is_text", "Use <function=x> tags and </function>.",
                         [content("Use <function=x> tags and </function>.")])),
    ("kimi_k2", Case("kimi_without_section", f'{KCB}functions.search:0{KA}{{"q": "a"}}{KCE} ok',
                     [call("search", {"q": "a"}), content(" ok")])),
    ("kimi_k2", Case("kimi_two_without_section",
                     f'{KCB}functions.search:0{KA}{{}}{KCE}{KCB}functions.search:1{KA}{{}}{KCE}',
                     [call("search"), call("search")])),
    ("granite", Case("granite_text_marker", '<tool_call>[{"name": "search", "arguments": {"q": "a"}}]',
                     [call("search", {"q": "a"})])),
    ("granite", Case("granite_text_marker_object", 'x <tool_call>{"name": "search", "arguments": {}}',
                     [content("x "), call("search")])),
]

MISSING_START += [
    ("harmony", Case("recipient_in_role_header",
                     ' to=functions.search<|channel|>commentary json<|message|>{"q": "a"}<|call|>',
                     [call("search", {"q": "a"})])),
    ("harmony", Case("recipient_in_role_header_no_space",
                     'to=functions.search<|channel|>commentary<|message|>{"q": "a"}',
                     [call("search", {"q": "a"})])),
    ("harmony", Case("recipient_in_prose_is_text", "Set it to=functions.x please, then go.",
                     [content("Set it to=functions.x please, then go.")])),
    ("harmony", Case("recipient_without_message_is_text", "to=functions.x and more",
                     [content("to=functions.x and more")])),
    ("harmony", Case("recipient_in_reasoning_is_reasoning",
                     "<|channel|>analysis<|message|>call to=functions.search later<|end|>"
                     "<|start|>assistant<|channel|>final<|message|>ok<|return|>",
                     [reasoning("call to=functions.search later"), content("ok")])),
]

LENIENT_LITERALS: list[tuple[str, Case]] = [
    ("pythonic", Case("inner_double_quotes", '[search(q="say "hi" now")]',
                      [call("search", {"q": 'say "hi" now'})])),
    ("pythonic", Case("apostrophe", "<|python_start|>[search(q='don't')]<|python_end|>",
                      [call("search", {"q": "don't"})])),
    ("lfm2", Case("lfm2_apostrophe", "<|tool_call_start|>[search(q='it's')]<|tool_call_end|> ok",
                  [call("search", {"q": "it's"}), content(" ok")])),
    ("lfm2", Case("lfm2_two_calls", "<|tool_call_start|>[search(q='a'b'), search(q=\"c\"d\")]"
                  "<|tool_call_end|>", [call("search", {"q": "a'b"}), call("search", {"q": 'c"d'})])),
]

KIMI_IDS: list[tuple[str, Case]] = [
    ("kimi_k2", Case("dotted_index_is_not_a_name",
                     KB + f'{KCB}functions.invalid.0{KA}{{}}{KCE}' + KE, [rejected("malformed")])),
    ("kimi_k2", Case("missing_index", KB + f"{KCB}functions.search{KA}{{}}{KCE}" + KE,
                     [rejected("malformed")])),
    ("kimi_k2", Case("no_functions_prefix", KB + f"{KCB}search:3{KA}{{}}{KCE}" + KE,
                     [call("search")])),
    ("kimi_k2", Case("space_in_id", KB + f"{KCB}functions.se arch:0{KA}{{}}{KCE}" + KE,
                     [rejected("malformed")])),
]



def qwen(params: str) -> str:
    return f"<tool_call>\n<function=search>\n{params}</function>\n</tool_call>"


CODE = 'print("</parameter>")\nx = 1'
MARKERS_IN_VALUES: list[tuple[str, Case]] = [
    ("qwen3_coder", Case("closing_tag_in_code", qwen(f"<parameter=q>\n{CODE}\n</parameter>\n"),
                         [call("search", {"q": CODE})], tools=TOOLS)),
    ("qwen3_coder", Case("unknown_opener_in_value",
                         qwen("<parameter=q>\nuse <parameter=html> here\n</parameter>\n"
                              "<parameter=limit>\n3\n</parameter>\n"),
                         [call("search", {"q": "use <parameter=html> here", "limit": 3})],
                         tools=TOOLS)),
    ("qwen3_coder", Case("function_end_in_value",
                         qwen("<parameter=q>\nend with </function> then more\n</parameter>\n"),
                         [call("search", {"q": "end with </function> then more"})], tools=TOOLS)),
    ("qwen3_coder", Case("tool_call_tag_in_value",
                         qwen("<parameter=q>\nwrite <tool_call> tags\n</parameter>\n"),
                         [call("search", {"q": "write <tool_call> tags"})], tools=TOOLS)),
    ("qwen3_coder", Case("known_opener_still_ends_a_value_without_close",
                         qwen("<parameter=q>\nabc\n<parameter=limit>\n2\n</parameter>\n"),
                         [call("search", {"q": "abc", "limit": 2})], tools=TOOLS)),
    ("minimax_m2", Case("minimax_closing_tag_in_value",
                        '<minimax:tool_call><invoke name="search"><parameter name="q">a</parameter>'
                        ' b</parameter></invoke></minimax:tool_call>',
                        [call("search", {"q": "a</parameter> b"})], tools=TOOLS)),
]


@pytest.mark.parametrize(("name", "case"), MARKERS_IN_VALUES, ids=lambda v: v.id if isinstance(v, Case) else v)
def test_markers_inside_values(name: str, case: Case) -> None:
    check_case(name, case)


@pytest.mark.parametrize(("name", "case"), MISSING_END + MISSING_START + LENIENT_LITERALS + KIMI_IDS,
                         ids=lambda v: v.id if isinstance(v, Case) else v)
def test_real_model_output(name: str, case: Case) -> None:
    check_case(name, case)


def test_kimi_keeps_a_strict_id() -> None:
    events, _ = run("kimi_k2", [KB + f'{KCB}functions.search:7{KA}{{"q": "a"}}{KCE}' + KE])
    assert [(e.id, e.name) for e in events if isinstance(e, ToolCall)] == [("functions.search:7",
                                                                           "search")]


REASONING_CALLS = {
    "json": "<tool_call>" + hermes_body("search", {"q": "a"}) + "</tool_call>",
    "qwen3_coder": "<tool_call><function=search><parameter=q>a</parameter></function></tool_call>",
    "mistral": '[TOOL_CALLS]search[ARGS]{"q": "a"}',
    "pythonic": "[search(q='a')]",
}


@pytest.mark.parametrize("name", sorted(REASONING_CALLS))
def test_a_call_inside_reasoning_is_reasoning_text(name: str) -> None:
    written = REASONING_CALLS[name]
    reply = f"<think>I could write {written} here.</think>Answer: " + written
    context = lmstream.load(backend="scripted", reply=reply)
    events = list(lmstream.generate(
        lmstream.UserInput(prompt="q", tools=TOOLS), context=context,
        parameters={"tool_parser": name, "stream_tool_calls": True}))
    thought = "".join(e.text for e in events if isinstance(e, Chunk) and e.channel == "reasoning")
    assert written in thought
    calls = [e for e in events if isinstance(e, ToolCall)]
    assert [(c.name, c.arguments) for c in calls] == [("search", {"q": "a"})]


@pytest.mark.parametrize("name", sorted(FRAGMENTS))
def test_deep_nesting_never_raises(name: str) -> None:
    opener = FRAGMENTS[name][0]
    for body in ("[" * 5000, "{" * 5000, '{"a": ' * 5000, "(" * 5000, "[" * 5000 + "]" * 5000):
        text = f"x {opener}{body} {' '.join(FRAGMENTS[name][1:])} y"
        for deltas in (False, True):
            events, parser = run(name, [text], TOOLS, deltas=deltas)
            assert rebuild(events, parser.silent_text) == text


def test_harmony_deep_nesting_in_a_call_is_malformed() -> None:
    text = "<|channel|>commentary to=functions.search<|message|>" + "[" * 5000 + "<|call|>"
    events, _ = run("harmony", [text])
    assert [(type(e).__name__, getattr(e, "reason", None)) for e in events] == [
        ("RejectedToolCall", "malformed")]

