"""The context's prefix cache on the scripted backend: hits, misses, concurrency, budget, layouts."""

from __future__ import annotations

import threading

import pytest

import lmstream
from lmstream import Chunk, Info, StopReason

PREFIX = "You are a helpful agent. Tools: search(q), fetch(url). " * 4


def tokens(context: lmstream.ModelContext, text: str) -> int:
    return len(context.tokenizer.encode(text))


def test_a_longer_prompt_reuses_the_cached_prefix(scripted):
    context = scripted("ok")
    first = context.generate(PREFIX + "one", max_tokens=3)
    assert first.info.stats.cached_prompt_tokens == 0 and first.info.stats.cache_source is None
    second = context.generate(PREFIX + "two", max_tokens=3)
    stats = second.info.stats
    assert stats.cached_prompt_tokens == tokens(context, PREFIX)
    assert stats.prompt_tokens == tokens(context, "two")
    assert stats.cache_source == "prefix_cache"
    assert second.text == first.text == "ok"


@pytest.mark.parametrize("shared", [1, 10, 100, 200])
def test_hits_by_prefix_length(scripted, shared):
    context = scripted("ok")
    base = "".join(chr(ord("a") + i % 26) for i in range(220))
    context.generate(base, max_tokens=2)
    info = context.generate(base[:shared] + "#" * 5, max_tokens=2).info
    assert info.stats.cached_prompt_tokens == shared
    assert info.stats.prompt_tokens == 5


def test_a_different_prompt_misses(scripted):
    context = scripted("ok")
    context.generate("alpha " * 20, max_tokens=2)
    info = context.generate("beta " * 20, max_tokens=2).info
    assert info.stats.cached_prompt_tokens == 0
    stats = context.prefix_cache.stats()
    assert stats.lookups == 2 and stats.hits == 0 and stats.hit_tokens == 0


def test_the_next_turn_finds_the_previous_answer(scripted):
    context = scripted("Hello world")
    context.generate(PREFIX, max_tokens=50)
    info = context.generate(PREFIX + "Hello world" + " and more", max_tokens=2).info
    assert info.stats.cached_prompt_tokens == tokens(context, PREFIX + "Hello world")


def test_concurrent_requests_sharing_a_prefix_each_hit_and_get_their_own_events(scripted):
    def reply(prompt: str) -> str:
        return f"answer for {prompt.split('#')[1]} " * 3

    context = scripted(reply, token_delay=0.002, max_batch_size=8)
    context.generate(PREFIX + "#warm#", max_tokens=4)
    runs = [lmstream.generate_task(PREFIX + f"#{n}#", context=context) for n in range(8)]
    results: dict[int, list[object]] = {}

    def consume(n: int, stream: lmstream.EventStream) -> None:
        results[n] = list(stream)

    threads = [threading.Thread(target=consume, args=(n, s)) for n, (s, _) in enumerate(runs)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert sorted(results) == list(range(8))
    for n, events in results.items():
        assert sum(isinstance(e, Info) for e in events) == 1 and isinstance(events[-1], Info)
        text = "".join(e.text for e in events if isinstance(e, Chunk))
        assert text == f"answer for {n} " * 3
        info = events[-1]
        assert info.stop_reason == StopReason.STOP
        assert info.stats.cached_prompt_tokens >= tokens(context, PREFIX + "#")
        assert info.stats.cache_source == "prefix_cache"


def test_eviction_under_a_tiny_budget(scripted):
    budget = 8 * 250  # the scripted cache counts 8 bytes per token: two 100-token prompts fit
    context = scripted("ok", prefix_cache_bytes=budget)
    prompts = [chr(ord("a") + n) * 100 for n in range(4)]
    for prompt in prompts:
        context.generate(prompt, max_tokens=2)
        assert context.prefix_cache.stats().bytes <= budget
    stats = context.prefix_cache.stats()
    assert stats.evictions == 2 and stats.entries == 2
    assert context.generate(prompts[0] + "!", max_tokens=2).info.stats.cached_prompt_tokens == 0
    assert context.generate(prompts[3] + "!", max_tokens=2).info.stats.cached_prompt_tokens == 100


def test_incompatible_layouts_never_share(scripted):
    context = scripted("ok")
    prompt = "layout " * 30
    context.generate(prompt, max_tokens=2, kv_bits=4)
    assert context.generate(prompt + "x", max_tokens=2).info.stats.cached_prompt_tokens == 0
    assert context.generate(prompt + "x", max_tokens=2, max_kv_size=64).info.stats.cached_prompt_tokens == 0
    hit = context.generate(prompt + "y", max_tokens=2, kv_bits=4).info.stats
    assert hit.cached_prompt_tokens == len(prompt) and hit.cache_source == "prefix_cache"
    other_group = context.generate(prompt + "y", max_tokens=2, kv_bits=4, kv_group_size=32)
    assert other_group.info.stats.cached_prompt_tokens == 0


def test_cancel_mid_prefill_leaves_a_valid_reusable_entry(scripted):
    context = scripted("ok", prefill_delay=0.01)
    prompt = "p" * 200
    started = threading.Event()

    def progress(done: int, total: int) -> None:
        if done >= 8:
            started.set()

    _stream, task = lmstream.generate_task(prompt, context=context, on_prefill_progress=progress,
                                          parameters={"prefill_step_size": 8})
    assert started.wait(30)
    task.cancel()
    info = task.wait(timeout=30)
    assert info.stop_reason == StopReason.CANCELLED and info.generated_tokens == 0
    done = info.stats.prompt_tokens
    assert 8 <= done < 200
    after = context.generate(prompt, max_tokens=2)
    assert after.text == "ok"
    assert after.info.stats.cached_prompt_tokens == done
    assert after.info.stats.prompt_tokens == 200 - done


def test_outputs_equal_with_the_cache_off(scripted):
    def reply(prompt: str) -> str:
        return f"{len(prompt)}:{prompt[-7:]}"

    turns = [PREFIX + "q1", PREFIX + "q1" + "42:x" + "q2", PREFIX + "q3"]
    on = scripted(reply)
    off = scripted(reply, prefix_cache_bytes=0)
    for prompt in turns:
        a, b = on.generate(prompt, max_tokens=40), off.generate(prompt, max_tokens=40)
        assert a.text == b.text
        total = a.info.stats.prompt_tokens + a.info.stats.cached_prompt_tokens
        assert total == b.info.stats.prompt_tokens
        assert b.info.stats.cached_prompt_tokens == 0
    assert on.prefix_cache.stats().hits == 2 and off.prefix_cache.stats().lookups == 0


def test_a_sessions_own_cache_wins(scripted):
    context = scripted("ok")
    cache = context.new_cache()
    context.generate(PREFIX, max_tokens=2, cache=cache)
    info = context.generate(PREFIX + "more", max_tokens=2, cache=cache).info
    assert info.stats.cache_source == "cache" and info.stats.cached_prompt_tokens > 0
    assert context.prefix_cache.stats().lookups == 0


def test_the_budget_option_is_checked(scripted):
    for bad in (-1, 1.5, True, "10"):
        with pytest.raises(ValueError, match="prefix_cache_bytes"):
            scripted("ok", prefix_cache_bytes=bad)
    assert scripted("ok", prefix_cache_bytes=0).prefix_cache.stats().capacity_bytes == 0
    default = scripted("ok").prefix_cache.stats().capacity_bytes
    assert default == lmstream.default_prefix_cache_bytes() > 0


def test_without_batching_the_token_iterator_path_shares_too(scripted):
    context = scripted("ok", batching=False)
    context.generate(PREFIX + "a", max_tokens=2)
    info = context.generate(PREFIX + "b", max_tokens=2).info
    assert info.stats.cached_prompt_tokens == tokens(context, PREFIX)


def test_the_stats_block_says_where_reuse_came_from(scripted):
    from lmstream_observers.formatting import stats_lines

    context = scripted("ok")
    context.generate(PREFIX + "a", max_tokens=2)
    shared = context.generate(PREFIX + "b", max_tokens=2).info.stats
    assert any("cached from the prefix cache" in line for line in stats_lines(shared))
    cache = context.new_cache()
    context.generate(PREFIX, max_tokens=2, cache=cache)
    own = context.generate(PREFIX + "c", max_tokens=2, cache=cache).info.stats
    assert any("cached from the caller's cache" in line for line in stats_lines(own))


def test_closing_the_context_drops_the_entries(scripted):
    context = scripted("ok")
    context.generate(PREFIX, max_tokens=2)
    assert context.prefix_cache.stats().entries == 1
    context.close()
    assert context.prefix_cache.stats().entries == 0 and context.prefix_cache.stats().bytes == 0
