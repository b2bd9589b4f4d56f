"""A call cut off by the end of the stream is never dropped: every character of it comes back,
as content or as a ``RejectedToolCall`` carrying the raw text, in every format.

Derived from vllm-project/vllm tests/tool_parsers/test_deepseekv31_tool_parser.py
(test_extract_tool_calls_unparsable_block: "Let me look that up.<｜tool▁calls▁begin｜>get_weather"
and a section without call markers must not be reported as a call and must not truncate the
content) and tests/tool_parsers/test_glm4_moe_tool_parser.py
(test_extract_tool_calls_incomplete_tool_call).
"""

from __future__ import annotations

import pytest
from format_samples import CB, FORMATS, SEP, B, E, sample
from toolcall_harness import TOOLS, Case, check_case, content, rejected, run

from lmstream import Chunk, RejectedToolCall, ToolCall


@pytest.mark.parametrize("fmt", FORMATS)
@pytest.mark.parametrize("deltas", [False, True])
def test_every_cut_returns_the_text(fmt: str, deltas: bool) -> None:
    full = sample(fmt, "Paris")
    for cut in range(1, len(full)):
        text = "Hi <b> " + full[:cut]
        for pieces in ([text], list(text)):
            events, parser = run(fmt, pieces, TOOLS, deltas=deltas)
            shown = "".join(e.text for e in events if isinstance(e, (Chunk, RejectedToolCall)))
            accepted = "".join(parser.call_text[e.id] for e in events if isinstance(e, ToolCall))
            assert len(shown) + len(accepted) == len(text), (fmt, cut, events)
            assert shown + accepted == text or accepted, (fmt, cut, events)


def test_deepseek_v31_reference_cases() -> None:
    cut = "Let me look that up." + B + "get_weather"
    check_case("deepseek_v31", Case("cut_after_begin", cut, [
        content("Let me look that up."), rejected("incomplete", B + "get_weather")]))
    no_blocks = B + 'foo' + SEP + '{"x":1}' + E
    check_case("deepseek_v31", Case("no_call_markers", no_blocks, [rejected("malformed", no_blocks)]))
    inside_args = "Ok." + B + CB + "get_weather" + SEP + '{"city": "Pa'
    check_case("deepseek_v31", Case("cut_inside_arguments", inside_args, [
        content("Ok."), rejected("incomplete", inside_args[3:])]))


def test_glm45_reference_incomplete_call() -> None:
    text = ("<tool_call>get_weather\n<arg_key>city</arg_key>\n<arg_value>Beijing</arg_value>\n"
            "<arg_key>date</arg_key>\n<arg_value>2025-08-01</arg_value>")
    check_case("glm45", Case("no_end_marker", text, [rejected("incomplete", text)]))
