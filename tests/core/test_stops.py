"""Stop semantics: length, EOS, stop tokens, stop strings (never leaked), context window."""

from __future__ import annotations

import pytest

import lmstream
from lmstream import Chunk, Info, StopReason


def _run(context, prompt="hi", **params):
    events = list(lmstream.generate(prompt, context=context, parameters=params))
    return "".join(e.text for e in events if isinstance(e, Chunk)), events[-1]


@pytest.mark.parametrize("max_tokens", [1, 2, 7, 20])
def test_length_generates_exactly_max_tokens(scripted, max_tokens):
    context = scripted("abcdefghij", repeat=True)
    text, info = _run(context, max_tokens=max_tokens)
    assert info.stop_reason == StopReason.LENGTH
    assert info.generated_tokens == max_tokens
    assert len(text) == max_tokens


def test_max_tokens_zero_generates_nothing(scripted):
    text, info = _run(scripted("abc"), max_tokens=0)
    assert (text, info.stop_reason, info.generated_tokens) == ("", StopReason.LENGTH, 0)


def test_eos_stops_and_is_not_emitted(scripted):
    text, info = _run(scripted("done"), max_tokens=100)
    assert text == "done" and info.stop_reason == StopReason.STOP and info.generated_tokens == 5


def test_eos_exactly_at_max_tokens_is_stop(scripted):
    _, info = _run(scripted("abc"), max_tokens=4)
    assert info.stop_reason == StopReason.STOP


def test_extra_stop_token_ids(scripted):
    context = scripted("abcdef", cut="chars")
    stop_id = context.tokenizer.encode("d")[0]
    text, info = _run(context, stop_token_ids=[stop_id])
    assert text == "abc" and info.stop_reason == StopReason.STOP


def test_stop_string_is_not_emitted_and_ends_with_stop(scripted):
    text, info = _run(scripted("Hello END world", cut="chars"), stop=["END"])
    assert text == "Hello " and info.stop_reason == StopReason.STOP


def test_earliest_of_several_stop_strings_wins(scripted):
    text, _ = _run(scripted("one two three", cut=3), stop=["three", "two"])
    assert text == "one "


def test_the_stop_string_that_completes_first_wins(scripted):
    # "|a日E" starts first but "日" completes first: a stream cannot wait for the longer one.
    for cut in ("chars", "bytes", lambda r: [r]):
        text, _ = _run(scripted("|a日E", cut=cut), stop=["|a日E", "日"])
        assert text == "|a"


def test_partial_stop_string_at_end_is_flushed(scripted):
    text, info = _run(scripted("almost EN", cut="chars"), stop=["END"])
    assert text == "almost EN" and info.stop_reason == StopReason.STOP


def test_stop_string_inside_one_token(scripted):
    text, _ = _run(scripted("xxSTOPyy", cut=["xxSTOPyy"].__len__()), stop=["STOP"])
    assert text == "xx"


def test_multibyte_characters_cut_across_tokens(scripted):
    reply = "naïve café 日本語 🙂!"
    context = scripted(reply, cut="bytes")
    events = list(lmstream.generate("hi", context=context))
    chunks = [e for e in events if isinstance(e, Chunk)]
    assert "".join(c.text for c in chunks) == reply
    assert all("\ufffd" not in c.text for c in chunks)
    emoji = next(c for c in chunks if c.text == "🙂")
    assert len(emoji.tokens) == 4  # the four UTF-8 bytes, emitted once complete


def test_broken_utf8_at_the_end_is_not_lost(scripted):
    context = scripted("ok", cut="chars")
    broken = [context.tokenizer.encode("a")[0], 0xE6, 0x97]  # 'a' then 2 of 3 bytes of '日'
    _stream, task = lmstream.generate_token_task(prompt_token_count=1, context=context, iterator=broken)
    assert task.wait().stop_reason == StopReason.STOP
    pipeline_context = scripted(b"a\xe6\x97".decode("utf-8", errors="replace"), cut="chars")
    text, _ = _run(pipeline_context)
    assert text == "a\ufffd"


def test_prompt_longer_than_context_raises_before_work(scripted):
    context = scripted("x", context_length=8)
    with pytest.raises(lmstream.ContextLengthError, match="context of 8 tokens"):
        lmstream.generate("this prompt is too long", context=context)


def test_context_window_caps_generation_with_length(scripted):
    context = scripted("abcdefghijklmnop", context_length=6)
    _text, info = _run(context, "hi", max_tokens=100)
    assert info.stop_reason == StopReason.LENGTH and info.generated_tokens == 4
    assert info.stats.context_size == 6


def test_stop_strings_rejected_for_token_streams(scripted):
    with pytest.raises(ValueError, match="stop strings need decoded text"):
        lmstream.generate_tokens("hi", context=scripted(), parameters={"stop": ["x"]})


def test_info_is_last_and_unique_with_stop_string(scripted):
    events = list(lmstream.generate("hi", context=scripted("a|b", cut="chars"), parameters={"stop": ["|"]}))
    assert sum(isinstance(e, Info) for e in events) == 1 and isinstance(events[-1], Info)
