"""A short prompt is prefilled in one chunk: splitting it only adds passes over the weights
before the first token (the llama.cpp backend's time to first token on a 20-token prompt)."""

from __future__ import annotations

import lmstream


def _chunks(context: lmstream.ModelContext, prompt: str) -> list[tuple[int, int]]:
    seen: list[tuple[int, int]] = []
    stream, task = lmstream.generate_task(prompt, context=context,
                                          on_prefill_progress=lambda d, t: seen.append((d, t)))
    for _event in stream:
        pass
    assert task.wait(10).error is None
    return [s for s in seen if s[0] > 0]


def test_an_unmeasured_context_prefills_a_100_token_prompt_in_one_chunk(scripted):
    context = scripted("ok", prefill_delay=0.0001)
    assert _chunks(context, "x" * 100) == [(100, 100)]


def test_a_slow_measured_rate_does_not_split_a_short_prompt(scripted):
    # 2 ms per token and 0.02 s chunks: the measured rate allows ~10 tokens per chunk
    context = scripted("ok", prefill_delay=0.002, prefill_chunk_s=0.02)
    long_prompt = _chunks(context, "y" * 400)
    assert len(long_prompt) > 4  # long prompts are still chunked by the measured rate
    assert _chunks(context, "x" * 100) == [(100, 100)]


def test_a_short_prompt_is_still_chunked_while_another_stream_decodes(scripted):
    # streams that decode keep getting their step every ~0.02 s: the newcomer's 100 tokens
    # (0.2 s of prefill) come in several chunks
    context = scripted(lambda p: "r" * 200, prefill_delay=0.002, token_delay=0.002,
                       prefill_chunk_s=0.02)
    running = lmstream.generate("short", context=context)
    iterator = iter(running)
    next(iterator)  # the first stream decodes from here on
    chunks = _chunks(context, "x" * 100)
    assert len(chunks) > 1 and chunks[-1] == (100, 100)
    running.close()
