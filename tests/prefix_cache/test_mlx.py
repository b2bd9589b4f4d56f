"""The prefix cache on the mlx backend: a plain (trimmable) KV model and a hybrid conv/attention
model whose caches cannot trim; greedy outputs equal the cache-off ones bit for bit
(``blas=False``: mlx's own kernels, whose results do not depend on the chunking)."""

from __future__ import annotations

from typing import Any

SYSTEM = "You are a careful agent. Use the tools search and fetch when needed. " * 3
TURNS = ["hello", "world again", "one more question"]


def conversation(context: Any, **parameters: Any) -> list[Any]:
    """Three chat turns, each appending the previous answer and a new user message."""
    messages = [{"role": "system", "content": SYSTEM}]
    results = []
    for turn in TURNS:
        messages.append({"role": "user", "content": turn})
        result = context.generate(messages=messages, max_tokens=12, temperature=0, **parameters)
        messages.append({"role": "assistant", "content": result.text})
        results.append(result)
    return results


def check_equal(on: list[Any], off: list[Any]) -> None:
    for a, b in zip(on, off, strict=True):
        assert a.token_ids == b.token_ids
        assert b.info.stats.cached_prompt_tokens == 0
        total = a.info.stats.prompt_tokens + a.info.stats.cached_prompt_tokens
        assert total == b.info.stats.prompt_tokens


def test_hybrid_model_reuses_exact_boundaries_and_matches_cache_off(hybrid_dir, mlx_contexts):
    on = mlx_contexts(hybrid_dir, blas=False)
    off = mlx_contexts(hybrid_dir, blas=False, prefix_cache_bytes=0)
    first_on, first_off = conversation(on), conversation(off)
    check_equal(first_on, first_off)
    for result in first_on[1:]:
        stats = result.info.stats
        assert stats.cache_source == "prefix_cache" and stats.cached_prompt_tokens > 0
        assert stats.prompt_tokens < stats.cached_prompt_tokens
    entries = on.prefix_cache.stats()
    assert entries.entries >= 2 and entries.bytes > 0


def test_hybrid_caches_are_not_trimmed_to_a_partial_prefix(hybrid_dir, mlx_contexts):
    context = mlx_contexts(hybrid_dir, blas=False)
    first = context.generate(SYSTEM + " first question", max_tokens=4, temperature=0)
    cache = context.new_cache()
    context.generate("x", max_tokens=1, cache=cache)
    assert not cache.can_trim  # conv states cannot go back
    assert first.info.stats.cached_prompt_tokens == 0
    # diverges inside the cached prompt: a conv state cannot be trimmed there, so no reuse
    other = context.generate(SYSTEM[:40] + "zzz", max_tokens=4, temperature=0)
    assert other.info.stats.cached_prompt_tokens == 0
    reference = context.generate(SYSTEM[:40] + "zzz", max_tokens=4, temperature=0,
                                 cache=context.new_cache())
    assert other.token_ids == reference.token_ids


def test_plain_model_trims_to_the_common_prefix_and_matches_cache_off(tiny_llama, mlx_contexts):
    on = mlx_contexts(tiny_llama, blas=False)
    off = mlx_contexts(tiny_llama, blas=False, prefix_cache_bytes=0)
    check_equal(conversation(on), conversation(off))
    # a prompt diverging inside a cached one reuses the common part (the KV cache trims)
    a = on.generate(SYSTEM[:60] + " hello world", max_tokens=8, temperature=0)
    b = off.generate(SYSTEM[:60] + " hello world", max_tokens=8, temperature=0)
    assert a.token_ids == b.token_ids
    assert a.info.stats.cached_prompt_tokens > 0


def test_batched_requests_sharing_a_prefix_on_mlx(tiny_llama, mlx_contexts):
    import lmstream

    on = mlx_contexts(tiny_llama, blas=False, max_batch_size=4)
    off = mlx_contexts(tiny_llama, blas=False, prefix_cache_bytes=0)
    on.generate(SYSTEM, max_tokens=2, temperature=0)
    tasks = [lmstream.generate_task(SYSTEM + f" question {n}", context=on,
                                    parameters={"max_tokens": 8, "temperature": 0})
             for n in range(4)]
    results = [lmstream.protocol.collect_result(stream) for stream, _ in tasks]
    for n, result in enumerate(results):
        assert result.info.stats.cached_prompt_tokens > 0
        expected = off.generate(SYSTEM + f" question {n}", max_tokens=8, temperature=0)
        assert result.token_ids == expected.token_ids


def test_quantized_and_rotating_layouts_never_share_with_plain(tiny_llama, mlx_contexts):
    context = mlx_contexts(tiny_llama, blas=False)
    context.generate(SYSTEM, max_tokens=2, temperature=0)
    quantized = context.generate(SYSTEM + " more", max_tokens=2, temperature=0, kv_bits=8, kv_group_size=32)
    assert quantized.info.stats.cached_prompt_tokens == 0
    again = context.generate(SYSTEM + " more still", max_tokens=2, temperature=0, kv_bits=8, kv_group_size=32)
    assert again.info.stats.cached_prompt_tokens > 0
    rotating = context.generate(SYSTEM + " more", max_tokens=2, temperature=0, max_kv_size=512)
    assert rotating.info.stats.cached_prompt_tokens == 0
