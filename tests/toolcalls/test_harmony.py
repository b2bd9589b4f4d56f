"""Chunking-harness cases for harmony (gpt-oss): channels, reasoning and tool-call messages."""

from __future__ import annotations

import pytest
from toolcall_harness import TOOLS, Case, call, check_case, content, reasoning, rejected

ANALYSIS = "<|channel|>analysis<|message|>"
FINAL = "<|start|>assistant<|channel|>final<|message|>"


def commentary_call(name: str, body: str, end: str = "<|call|>") -> str:
    return (f"<|start|>assistant<|channel|>commentary to=functions.{name} <|constrain|>json"
            f"<|message|>{body}{end}")


HARMONY_CASES = [
    Case("no_headers", "Plain answer with <| odd <|tags and a < b.",
         [content("Plain answer with <| odd <|tags and a < b.")]),
    Case("analysis_then_final",
         f"{ANALYSIS}The user wants a greeting.<|end|>{FINAL}Hello!<|return|>",
         [reasoning("The user wants a greeting."), content("Hello!")]),
    Case("analysis_then_call_ended_by_the_stream",
         f"{ANALYSIS}Need weather.<|end|>" + commentary_call("get_weather", '{"city": "Paris"}', ""),
         [reasoning("Need weather."), call("get_weather", {"city": "Paris"})]),
    Case("recipient_in_the_role",
         '<|start|>assistant to=functions.search<|channel|>commentary json<|message|>'
         '{"q": "x"}<|call|>',
         [call("search", {"q": "x"})]),
    Case("preamble_then_call_then_final",
         "<|channel|>commentary<|message|>Let me look that up.<|end|>"
         + commentary_call("search", '{"q": "<|call|> <|end|>", "filters": {"a": [1]}}')
         + f"{FINAL}Found it.",
         [content("Let me look that up."),
          call("search", {"q": "<|call|> <|end|>", "filters": {"a": [1]}}),
          content("Found it.")]),
    Case("two_calls", commentary_call("search", '{"q": "a"}') + commentary_call("search", '{"q": "b"}'),
         [call("search", {"q": "a"}), call("search", {"q": "b"})]),
    Case("malformed_body", commentary_call("search", "{q: a}") + f"{FINAL}ok",
         [rejected("malformed", commentary_call("search", "{q: a}")), content("ok")]),
    Case("incomplete_body", commentary_call("search", '{"q": "a', ""),
         [rejected("incomplete")]),
    Case("broken_header", "<|channel|>analysis<|end|>text",
         [rejected("malformed", "<|channel|>analysis"), content("text")]),
    Case("undeclared", commentary_call("browser.open", '{"url": "x"}'),
         [rejected("undeclared_tool")], tools=TOOLS),
]


@pytest.mark.parametrize("case", HARMONY_CASES, ids=lambda c: c.id)
def test_harmony(case: Case) -> None:
    check_case("harmony", case)
