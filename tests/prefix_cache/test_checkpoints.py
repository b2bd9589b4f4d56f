"""Checkpoints every N tokens for caches that cannot trim, on the tiny random-weight hybrid
(LFM2: conv states beside attention) mlx-lm model: a second turn that parts from the first
turn's generated ids part-way starts from the last checkpoint before the difference (not just
the end of the prompt), a prompt that parts inside a cached prompt from the last prompt
checkpoint before it; outputs equal the cache-off ones token for token (``blas=False``);
the checkpoints stay within the budget and the per-conversation bound."""

from __future__ import annotations

from typing import Any

import pytest

import lmstream
from lmstream.protocol import Info, LMInput, Token

EVERY = 8
FIXED = {"prefill_step_size": 16, "temperature": 0}
"""Prefill chunks of exactly 16 tokens, so the prompt's checkpoints fall on known lengths."""


def run(context: Any, tokens: list[int], max_tokens: int = 30) -> tuple[list[int], Info]:
    """A token stream on raw ids: its generated ids and its Info."""
    stream = lmstream.generate_tokens(LMInput(tokens=tuple(tokens)), context=context,
                                      parameters={"max_tokens": max_tokens, **FIXED})
    ids: list[int] = []
    info = None
    for event in stream:
        if isinstance(event, Token):
            ids.append(event.id)
        elif isinstance(event, Info):
            info = event
    assert info is not None and info.error is None, info
    return ids, info


def first_prompt(context: Any) -> list[int]:
    ids = context.tokenizer.encode("The agent reads the files and answers the question about handlers. ")
    assert len(ids) > 4 * EVERY
    return list(ids)


def test_a_turn_that_parts_from_the_answer_hits_the_last_checkpoint_before(hybrid_dir, mlx_contexts):
    on = mlx_contexts(hybrid_dir, blas=False, prefix_cache_checkpoint_tokens=EVERY)
    ends_only = mlx_contexts(hybrid_dir, blas=False, prefix_cache_checkpoint_tokens=0)
    off = mlx_contexts(hybrid_dir, blas=False, prefix_cache_bytes=0)
    prompt = first_prompt(on)
    answer, _ = run(on, prompt)
    assert answer == run(off, prompt)[0] == run(ends_only, prompt)[0]
    assert len(answer) >= 3 * EVERY  # (the tiny model's greedy answer does not stop early)
    parts_at = 2 * EVERY + 5  # the client re-rendered the answer differently from here on
    other = (answer[parts_at] + 1) % 200 + 3
    second = prompt + answer[:parts_at] + [other, 60, 61, 62]
    ids, info = run(on, second)
    cached = info.stats.cached_prompt_tokens
    assert info.stats.cache_source == "prefix_cache"
    assert len(prompt) + EVERY < cached <= len(prompt) + parts_at  # the checkpoint at 16 tokens
    assert info.stats.prompt_tokens + cached == len(second)
    assert ids == run(off, second)[0]
    # without checkpoints between the ends only the end of the prompt serves (the answer's end
    # is past the difference): the checkpoints bought ``cached - that`` tokens
    _, without = run(ends_only, second)
    assert without.stats.cached_prompt_tokens < len(prompt)


def test_a_prompt_that_parts_inside_a_cached_prompt_hits_a_prompt_checkpoint(hybrid_dir, mlx_contexts):
    on = mlx_contexts(hybrid_dir, blas=False, prefix_cache_checkpoint_tokens=EVERY)
    off = mlx_contexts(hybrid_dir, blas=False, prefix_cache_bytes=0)
    prompt = first_prompt(on)
    run(on, prompt, max_tokens=2)
    parts_at = 40  # prompt chunks of 16: checkpoints at 16 and 32 tokens, then 48, ...
    other = [*prompt[:parts_at], (prompt[parts_at] + 1) % 200 + 3, 70, 71]
    ids, info = run(on, other, max_tokens=8)
    assert info.stats.cached_prompt_tokens == 32
    assert ids == run(off, other, max_tokens=8)[0]


@pytest.mark.parametrize("keep", [2, 3])
def test_checkpoints_stay_within_the_budget_and_the_bound_per_conversation(hybrid_dir, mlx_contexts, keep):
    probe = mlx_contexts(hybrid_dir, blas=False, prefix_cache_checkpoint_tokens=0)
    prompt = first_prompt(probe)
    run(probe, prompt, max_tokens=2)
    one = max(probe.prefix_cache.stats().bytes, 1)  # about one entry (end of prompt + end of answer)
    budget = 3 * one
    on = mlx_contexts(hybrid_dir, blas=False, prefix_cache_checkpoint_tokens=EVERY,
                      prefix_cache_checkpoints=keep, prefix_cache_bytes=budget)
    answer, _ = run(on, prompt)
    stats = on.prefix_cache.stats()
    assert stats.inserts > keep  # prompt chunks, the end of the prompt, the answer's checkpoints
    assert stats.entries <= keep and stats.bytes <= budget
    second = prompt + answer + [5, 6, 7]
    _, info = run(on, second, max_tokens=4)
    assert info.stats.cached_prompt_tokens >= len(prompt) + len(answer) - 1  # the newest stayed
    stats = on.prefix_cache.stats()
    assert stats.entries <= keep and stats.bytes <= budget


def test_the_checkpoint_options_are_checked():
    with pytest.raises(ValueError, match="prefix_cache_checkpoint_tokens"):
        lmstream.load(backend="scripted", reply="ok", prefix_cache_checkpoint_tokens=-1)
    with pytest.raises(ValueError, match="prefix_cache_checkpoints"):
        lmstream.load(backend="scripted", reply="ok", prefix_cache_checkpoints=0)


def test_serve_passes_the_checkpoint_flag_to_the_scheduler():
    import argparse

    pytest.importorskip("starlette")
    from lmstream_server import command

    parser = argparse.ArgumentParser()
    command.configure(parser)
    args = parser.parse_args(["--prefix-cache-checkpoint-tokens", "64", "-o", "prefix_cache_checkpoints=3"])
    options = command.load_options(args)
    assert options == {"prefix_cache_checkpoint_tokens": 64, "prefix_cache_checkpoints": 3}
    with lmstream.load(backend="scripted", reply="ok", **options) as context:
        assert context.prefix_cache.max_checkpoints == 3
        assert context.scheduler._sharing.checkpoint_tokens == 64
