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
from toolcall_harness import TOOLS, Case, call, check_case, content, rejected, run

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
            # a call is accepted only when nothing of it was cut (its end marker may be)
            assert all(e.arguments == {"city": "Paris"} for e in events
                       if isinstance(e, ToolCall)), (fmt, cut, events)


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


XML_UNCLOSED = [
    # vllm-project/vllm vllm/tool_parsers/qwen3coder_tool_parser.py reads a <tool_call> that
    # the stream ended before </tool_call> (its regex ends in "|<tool_call>(.*?)$"); Seed-OSS's
    # parser is the same; llama.cpp tests/chat-parsers/test-seed-oss.cpp feeds the call without
    # </seed:tool_call>. Only a whole function counts: a cut value stays incomplete.
    ("qwen3_coder", "<tool_call>\n<function=f>\n<parameter=a>\n42\n</parameter>\n</function>",
     {"a": "42"}),
    ("seed_oss", "<seed:tool_call>\n<function=special_function>\n<parameter=arg1>\n42\n"
     "</parameter>\n</function>", {"arg1": "42"}),
    ("minimax_m2", '<minimax:tool_call>\n<invoke name="f">\n<parameter name="a">1</parameter>\n'
     "</invoke>", {"a": "1"}),
    # vllm-project/vllm vllm/tool_parsers/functiongemma_tool_parser.py: its regex also reads
    # "<start_function_call>call:(\w+)\{(.*)" with no end marker
    ("function_gemma", "<start_function_call>call:f{a:<escape>x<escape>}", {"a": "x"}),
    ("gemma4", '<|tool_call>call:f{a:<|"|>x<|"|>}', {"a": "x"}),
]


@pytest.mark.parametrize("fmt,text,arguments", XML_UNCLOSED, ids=lambda v: str(v)[:12])
def test_whole_call_without_its_end_marker(fmt: str, text: str, arguments: dict[str, str]) -> None:
    name = "special_function" if fmt == "seed_oss" else "f"
    check_case(fmt, Case("unclosed", "Ok. " + text, [content("Ok. "), call(name, arguments)]))
    cut = text[:-len("</function>") - 2] if "</function>" in text else text[:-3]
    check_case(fmt, Case("cut", "Ok. " + cut, [content("Ok. "), rejected("incomplete", cut)]))
