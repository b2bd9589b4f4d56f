"""The prefix cache on the default model (slow): greedy outputs over an agent-shaped
conversation equal the cache-off ones bit for bit on mlx (``blas=False``) and equal the
caller's-own-cache path on llama.cpp; the llama.cpp path (saved KV bytes shared by forks)
under batching and a cancel mid-prefill."""

from __future__ import annotations

import itertools
import threading
from typing import Any

import pytest

import lmstream
from lmstream import StopReason

SYSTEM = ("You are a coding agent. You can call the tools read_file(path), write_file(path, text) "
          "and run(command). Answer briefly. ") * 4
TURNS = ["List the files.", "Read README.md please.", "Now summarize it in one line."]
pytestmark = pytest.mark.slow
FIXED_CHUNKS = {"prefill_step_size": 16}
"""Prefill chunks of exactly 16 tokens (the scheduler's minimum), whatever the measured rate,
so two runs that reuse the same prefix prefill the rest in the same shapes."""


def conversation(context: Any) -> list[Any]:
    messages = [{"role": "system", "content": SYSTEM}]
    results = []
    for turn in TURNS:
        messages.append({"role": "user", "content": turn})
        result = context.generate(messages=messages, max_tokens=12, temperature=0, **FIXED_CHUNKS)
        messages.append({"role": "assistant", "content": result.text})
        results.append(result)
    return results


@pytest.fixture
def pair(require_backend: Any, request: pytest.FixtureRequest) -> Any:
    backend = request.param
    require_backend(backend)
    options: dict[str, Any] = {"n_ctx": 2048} if backend == "llama_cpp" else {"blas": False}
    on = lmstream.load(backend=backend, **options)
    off = lmstream.load(backend=backend, prefix_cache_bytes=0, **options)
    yield on, off
    on.close()
    off.close()


def check_reuse(results: list[Any]) -> None:
    """From turn 2 on, at least the whole previous prompt came from the prefix cache."""
    for previous, result in itertools.pairwise(results):
        stats, before = result.info.stats, previous.info.stats
        assert stats.cache_source == "prefix_cache"
        assert stats.cached_prompt_tokens >= before.prompt_tokens + before.cached_prompt_tokens


@pytest.mark.parametrize("pair", ["mlx"], indirect=True)
def test_mlx_greedy_outputs_equal_cache_off(pair):
    """With ``blas=False`` mlx's kernels do not depend on the chunking: bit for bit."""
    on, off = pair
    with_cache, without = conversation(on), conversation(off)
    for a, b in zip(with_cache, without, strict=True):
        assert a.token_ids == b.token_ids
        assert a.info.stats.prompt_tokens + a.info.stats.cached_prompt_tokens == b.info.stats.prompt_tokens
    check_reuse(with_cache)


@pytest.mark.parametrize("pair", ["llama_cpp"], indirect=True)
def test_llama_cpp_outputs_equal_the_callers_cache_path(pair):
    """llama.cpp's CPU kernels round differently for different batch shapes, so a prompt
    prefilled from a reused prefix can flip a near-tie against a full prefill (as with a
    ChatSession's own cache). The prefix cache must give exactly what reusing the same KV
    through ``cache=`` gives; the first turn (nothing reused) equals the cache-off run."""
    on, off = pair
    with_cache = conversation(on)
    messages = [{"role": "system", "content": SYSTEM}]
    cache = off.new_cache()
    for n, (turn, shared) in enumerate(zip(TURNS, with_cache, strict=True)):
        messages.append({"role": "user", "content": turn})
        own = off.generate(messages=messages, max_tokens=12, temperature=0, cache=cache, **FIXED_CHUNKS)
        messages.append({"role": "assistant", "content": own.text})
        assert shared.token_ids == own.token_ids
        if n == 0:
            assert shared.info.stats.cached_prompt_tokens == 0
        else:
            assert shared.info.stats.cached_prompt_tokens == own.info.stats.cached_prompt_tokens
    check_reuse(with_cache)


@pytest.mark.parametrize("pair", ["llama_cpp"], indirect=True)
def test_llama_cpp_batched_requests_share_a_prefix(pair):
    on, _ = pair
    on.generate(SYSTEM, max_tokens=1, temperature=0)
    tasks = [lmstream.generate_task(SYSTEM + f"Question {n}:", context=on,
                                    parameters={"max_tokens": 8, "temperature": 0}) for n in range(3)]
    for stream, _ in tasks:
        result = lmstream.protocol.collect_result(stream)
        assert result.info.stats.cache_source == "prefix_cache"
        assert result.info.stats.cached_prompt_tokens >= len(on.tokenizer.encode(SYSTEM)) - 1
        assert result.info.stop_reason in (StopReason.STOP, StopReason.LENGTH) and result.token_ids


@pytest.mark.parametrize("pair", ["llama_cpp"], indirect=True)
def test_llama_cpp_cancel_mid_prefill_leaves_a_reusable_entry(pair):
    on, _ = pair
    prompt = SYSTEM * 3
    started = threading.Event()
    _stream, task = lmstream.generate_task(
        prompt, context=on, parameters={"max_tokens": 4, "temperature": 0, "prefill_step_size": 32},
        on_prefill_progress=lambda done, total: started.set() if done >= 32 else None)
    assert started.wait(120)
    task.cancel()
    info = task.wait(timeout=120)
    if info.stop_reason != StopReason.CANCELLED:
        pytest.skip("the prefill finished before the cancel landed (machine too fast)")
    after = on.generate(prompt, max_tokens=6, temperature=0)
    assert after.info.stats.cached_prompt_tokens == info.stats.prompt_tokens > 0
    assert after.info.stop_reason in (StopReason.STOP, StopReason.LENGTH) and after.token_ids


@pytest.mark.parametrize("pair", ["llama_cpp"], indirect=True)
def test_llama_cpp_untrimmable_states_reuse_the_end_of_the_prompt(pair):
    """A recurrent/hybrid model's state cannot trim (played here by the default model with
    ``can_trim`` off): the runner saves the end of the prompt, which the core snapshots, so a
    longer prompt reuses exactly that boundary and a diverging one reuses nothing."""
    on, _ = pair
    on.backend_model.engine.can_trim = False

    def raw(text: str) -> Any:
        stream = lmstream.generate(lmstream.UserInput(prompt=text, use_chat_template=False), context=on,
                                   parameters={"max_tokens": 4, "temperature": 0})
        return lmstream.protocol.collect_result(stream)

    base = SYSTEM.rstrip()  # ends with "."; " Then" starts a new token after it
    first = raw(base)
    longer = raw(base + " Then stop.")
    assert longer.info.stats.cached_prompt_tokens == first.info.stats.prompt_tokens
    assert raw(SYSTEM[: len(SYSTEM) // 2] + "zzz").info.stats.cached_prompt_tokens == 0


def test_llama_cpp_budget_holds_in_resident_memory(require_backend):
    """The saved states live in host memory: with a small budget, entries are evicted and
    the process's resident memory grows by no more than the budget (plus allocator slack)."""
    require_backend("llama_cpp")
    from lmstream_llama_cpp.memory import rss_bytes

    budget = 20 << 20  # two entries of ~390 tokens (~9 MiB each on the default model)
    context = lmstream.load(backend="llama_cpp", n_ctx=2048, prefix_cache_bytes=budget)
    try:
        context.generate("Warm up. " + SYSTEM * 3, max_tokens=2, temperature=0)
        before = rss_bytes()
        for n in range(6):
            context.generate(f"Session {n}. " + SYSTEM * 3, max_tokens=2, temperature=0)
            assert context.prefix_cache.stats().bytes <= budget
        grown = rss_bytes() - before
        stats = context.prefix_cache.stats()
    finally:
        context.close()
    assert stats.evictions >= 3 and stats.bytes <= budget
    assert grown <= 1.1 * budget + (8 << 20), f"RSS grew by {grown} bytes"
