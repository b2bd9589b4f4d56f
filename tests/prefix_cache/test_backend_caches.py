"""Each backend's side of the cache contract: ``fork`` is independent of its source,
``can_trim`` and ``nbytes`` say what the prefix cache needs."""

from __future__ import annotations

import importlib.util

import pytest

import lmstream


def test_scripted_fork_is_independent(scripted):
    context = scripted("ok")
    cache = context.new_cache()
    context.generate("hello there", max_tokens=2, cache=cache)
    held = list(cache.tokens)
    copy = cache.fork()
    assert type(copy) is type(cache) and copy.tokens == held and copy.can_trim
    copy.trim(3)
    copy.tokens.append(7)
    assert cache.tokens == held and cache.nbytes == 8 * len(held)


def test_the_base_class_opts_out():
    class Minimal(lmstream.PromptCache):
        @property
        def tokens(self) -> list[int]:
            return []

        def trim(self, count: int) -> int:
            return 0

    cache = Minimal()
    assert cache.fork() is None and cache.can_trim and cache.nbytes == 0


@pytest.mark.skipif(importlib.util.find_spec("llama_cpp") is None, reason="llama-cpp-python missing")
def test_llama_cpp_fork_shares_the_saved_bytes_and_owns_its_tokens():
    from lmstream_llama_cpp.cache import LlamaCppPromptCache

    class Engine:
        can_trim = True

    engine = Engine()
    cache = LlamaCppPromptCache(engine)
    cache.store(b"x" * 100, [1, 2, 3, 4])
    copy = cache.fork()
    assert copy.state is cache.state and copy.tokens == [1, 2, 3, 4] and copy.nbytes == 100
    copy.trim(2)
    copy.store(b"y" * 10, [1, 2, 9])
    assert cache.tokens == [1, 2, 3, 4] and cache.state == b"x" * 100
    assert cache.can_trim
    engine.can_trim = False  # a recurrent or hybrid model
    assert not cache.can_trim


def test_mlx_fork_is_independent(tiny_llama, mlx_contexts):
    context = mlx_contexts(tiny_llama, blas=False)
    cache = context.new_cache()
    context.generate("hello world " * 4, max_tokens=3, temperature=0, cache=cache)
    held = list(cache.tokens)
    nbytes = cache.nbytes
    copy = context.worker.call(cache.fork)
    assert copy.tokens == held and copy.can_trim and copy.nbytes == nbytes > 0
    context.generate("hello world " * 2 + "different", max_tokens=3, temperature=0, cache=copy)
    assert cache.tokens == held and cache.nbytes == nbytes
    again = context.generate("hello world " * 4 + "more", max_tokens=3, temperature=0, cache=cache)
    fresh = context.generate("hello world " * 4 + "more", max_tokens=3, temperature=0,
                             cache=context.new_cache())
    assert again.token_ids == fresh.token_ids
    assert again.info.stats.cached_prompt_tokens > 0
