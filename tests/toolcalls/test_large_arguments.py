"""100 KB arguments (with quotes, escapes and end markers inside) parse in every format, fed
whole, in token-sized pieces and one character at a time, in linear time."""

from __future__ import annotations

import json
import random
import time

import pytest
from toolcall_harness import check_deltas, normalize, rebuild, run

from lmstream import ToolCallDelta

SIZE = 100_000


def big_text(markers: str) -> str:
    """~100 KB of varied text holding the format's markers, quotes and brackets."""
    rng = random.Random(7)
    words = ["alpha", "beta", "{", "}", "[", "]", "(", ")", ":", ",", "\n", "é", "“", markers]
    out: list[str] = []
    size = 0
    while size < SIZE:
        word = rng.choice(words)
        out.append(word + " ")
        size += len(word) + 1
    return "".join(out)


def jdump(value: str) -> str:
    return json.dumps({"q": value})


def python_repr(value: str) -> str:
    return repr(value)


CALLS = {
    "json": lambda v: f'<tool_call>{{"name": "search", "arguments": {jdump(v)}}}</tool_call>',
    "llama3_json": lambda v: f'<|python_tag|>{{"name": "search", "parameters": {jdump(v)}}}',
    "granite": lambda v: f'<|tool_call|>[{{"name": "search", "arguments": {jdump(v)}}}]',
    "phi4_mini": lambda v: f'functools[{{"name": "search", "arguments": {jdump(v)}}}]',
    "mistral": lambda v: f"[TOOL_CALLS]search[ARGS]{jdump(v)}",
    "pythonic": lambda v: f"[search(q={python_repr(v)})]",
    "lfm2": lambda v: f"<|tool_call_start|>[search(q={python_repr(v)})]<|tool_call_end|>",
    "qwen3_coder": lambda v: f"<tool_call>\n<function=search>\n<parameter=q>\n{v}\n</parameter>\n"
                             "</function>\n</tool_call>",
    "seed_oss": lambda v: f"<seed:tool_call>\n<function=search>\n<parameter=q>\n{v}\n</parameter>"
                          "\n</function>\n</seed:tool_call>",
    "minimax_m2": lambda v: f'<minimax:tool_call>\n<invoke name="search">\n<parameter name="q">{v}'
                            "</parameter>\n</invoke>\n</minimax:tool_call>",
    "glm45": lambda v: f"<tool_call>search\n<arg_key>q</arg_key>\n<arg_value>{v}</arg_value>\n"
                       "</tool_call>",
    "glm47": lambda v: f"<tool_call>search<arg_key>q</arg_key><arg_value>{v}</arg_value></tool_call>",
    "deepseek_v3": lambda v: "<｜tool▁calls▁begin｜><｜tool▁call▁begin｜>function<｜tool▁sep｜>search\n"
                             f"```json\n{jdump(v)}\n```<｜tool▁call▁end｜><｜tool▁calls▁end｜>",
    "deepseek_v31": lambda v: "<｜tool▁calls▁begin｜><｜tool▁call▁begin｜>search<｜tool▁sep｜>"
                              f"{jdump(v)}<｜tool▁call▁end｜><｜tool▁calls▁end｜>",
    "deepseek_v32": lambda v: '<｜DSML｜function_calls>\n<｜DSML｜invoke name="search">\n'
                              f'<｜DSML｜parameter name="q" string="true">{v}</｜DSML｜parameter>\n'
                              "</｜DSML｜invoke>\n</｜DSML｜function_calls>",
    "kimi_k2": lambda v: "<|tool_calls_section_begin|><|tool_call_begin|>functions.search:0"
                         f"<|tool_call_argument_begin|>{jdump(v)}<|tool_call_end|>"
                         "<|tool_calls_section_end|>",
    "gemma4": lambda v: f'<|tool_call>call:search{{q:<|"|>{v}<|"|>}}<tool_call|>',
    "function_gemma": lambda v: f"<start_function_call>call:search{{q:<escape>{v}<escape>}}"
                                "<end_function_call>",
    "harmony": lambda v: "<|start|>assistant<|channel|>commentary to=functions.search "
                         f"<|constrain|>json<|message|>{jdump(v)}<|call|>",
}

# End markers a value of each format may hold (JSON/Python strings may hold anything; raw text
# values may hold the outer end marker but not their own closing tag).
INSIDE = {
    "qwen3_coder": "</tool_call> <function=x>",
    "seed_oss": "</seed:tool_call> <tool_call>",
    "minimax_m2": "</minimax:tool_call> </invoke>",
    "glm45": "</tool_call> <arg_key>",
    "glm47": "</tool_call> <arg_key>",
    "deepseek_v32": "</｜DSML｜function_calls> \" '",
    "gemma4": "<tool_call|> \" '",
    "function_gemma": "<end_function_call> \" '",
}
DEFAULT_INSIDE = ('"</tool_call>\\ <|call|> <|tool_call_end|> [TOOL_CALLS] <｜tool▁call▁end｜> '
                  "<|tool_calls_section_end|> ''' <|python_end|>")


def pieces_of(text: str, size: int) -> list[str]:
    return [text[i:i + size] for i in range(0, len(text), size)]


@pytest.mark.parametrize("name", sorted(CALLS))
def test_100kb_argument(name: str) -> None:
    value = big_text(INSIDE.get(name, DEFAULT_INSIDE))
    text = "Before. " + CALLS[name](value) + " After."
    started = time.perf_counter()
    results = []
    for pieces in ([text], pieces_of(text, 4), pieces_of(text, 97), list(text)):
        events, parser = run(name, pieces)
        assert rebuild(events, parser.silent_text) == text
        results.append(normalize(events))
    elapsed = time.perf_counter() - started
    assert all(r == results[0] for r in results)
    calls = [seg for seg in results[0] if seg[0] == "call"]
    assert len(calls) == 1, results[0][:3]
    got = calls[0][2]["q"]
    expected = value.strip("\n") if name in ("qwen3_coder", "seed_oss") else value
    assert got == expected
    assert results[0][0] == ("content", "Before. ") and results[0][-1] == ("content", " After.")
    assert elapsed < 20, f"{name}: 4 feeds of 100 KB took {elapsed:.1f}s (quadratic?)"


@pytest.mark.parametrize("name", sorted(CALLS))
def test_100kb_argument_streams_its_deltas_in_linear_time(name: str) -> None:
    value = big_text(INSIDE.get(name, DEFAULT_INSIDE))
    text = "Before. " + CALLS[name](value) + " After."
    timings = []
    for size in (len(text) // 4, len(text)):  # a quarter, then all of it: linear means ~4x
        part = text[:size] if size < len(text) else text
        started = time.perf_counter()
        events, parser = run(name, pieces_of(part, 4), deltas=True)
        timings.append(time.perf_counter() - started)
    assert rebuild(events, parser.silent_text) == text
    (index, called, _joined, end), = check_deltas(events)
    assert (index, called, end) == (0, "search", "call")
    call = next(e for e in events if not isinstance(e, ToolCallDelta) and hasattr(e, "arguments"))
    assert call.arguments["q"] == (value.strip("\n") if name in ("qwen3_coder", "seed_oss") else value)
    assert timings[1] < 10 * max(timings[0], 0.05), f"{name}: {timings} (quadratic?)"
