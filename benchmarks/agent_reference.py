"""The yardstick of agent_replay.py: a turn's new tokens prefilled on top of its cached prefix.

A later turn of an agent conversation reuses a cached prefix of ~2,000 tokens and prefills the
few dozen tokens the turn added. Those new tokens attend to the whole prefix, so their prefill
costs more than the same number of tokens from an empty context: a fair yardstick for the
turn's time to first token is the engine doing exactly that work, without any server.

For every lmstream side and every turn from 2 on, this module rebuilds the turn's prompt token
ids in the benchmark process (``context.prepare`` on the same backend, cut or padded to the
length the server reported), splits them at the server's reported ``cached_tokens`` and
measures, on the same engine and settings as the server:

- ``llama_cpp``: llama-cpp-python used directly (``llama_cpp.Llama`` on the same GGUF, the same
  ``n_ctx``, threads, batch sizes and flash-attention setting as lmstream's backend): the
  prefix is evaluated untimed, then the timer covers evaluating the new tokens, sampling one
  token (greedy) and one decode step of it;
- ``mlx``: lmstream's MLX batch runner in this process (no worker thread, no scheduler, no
  server): a first sequence prefills the prefix into a prompt cache untimed, a second one
  starts from that cache, and the timer covers prefilling the new tokens, taking the first
  token and one decode step.

Each measurement is repeated (``repeats``) and the fastest kept, since nothing but load makes
it slower. The figures are seconds; ``agent_replay.py`` compares each turn's TTFT with them.
"""

from __future__ import annotations

import random
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import lmstream


@dataclass
class TurnWork:
    """What one turn asked of the engine: the cached prefix and the new tokens after it."""

    turn: int
    prefix: list[int]
    new: list[int]


def turn_work(backend: str, conversations: Sequence[tuple[int, list[dict[str, Any]], int, int]],
              load_options: dict[str, Any]) -> list[TurnWork]:
    """``(turn, messages, prompt_tokens, cached_tokens)`` as the server reported them -> the
    token ids of each turn's prefix and new tokens, rendered by lmstream on ``backend``."""
    rng = random.Random(21)
    context = lmstream.load(backend=backend, **load_options)
    try:
        works = []
        for turn, messages, prompt_tokens, cached in conversations:
            tokens = list(context.prepare(lmstream.UserInput(messages=messages)).tokens)
            tokens = tokens[:prompt_tokens]  # the server's count wins: pad with fresh ids
            tokens += [rng.randrange(1000, 30000) for _ in range(prompt_tokens - len(tokens))]
            cached = max(0, min(cached, prompt_tokens - 1))
            works.append(TurnWork(turn, tokens[:cached], tokens[cached:]))
        return works
    finally:
        context.close()


def llama_cpp_direct(works: Sequence[TurnWork], n_ctx: int, repeats: int) -> dict[int, float]:
    """Seconds per turn, llama-cpp-python direct: eval the new tokens on top of the prefix,
    sample one token, decode it (one step)."""
    import llama_cpp
    from llama_cpp import Llama

    from lmstream.backend import common_prefix_length, default_model_path
    from lmstream_llama_cpp.options import LlamaCppOptions

    options = LlamaCppOptions()
    llm = Llama(model_path=str(default_model_path()), n_ctx=n_ctx, n_batch=options.n_batch,
                n_ubatch=options.n_ubatch, n_threads=options.threads,
                n_threads_batch=options.threads_batch, flash_attn=bool(options.flash_attn),
                verbose=False)
    greedy = llama_cpp.llama_sampler_init_greedy()
    results: dict[int, float] = {}
    try:
        for work in works:
            best = float("inf")
            for _ in range(repeats):
                # untimed: the cached prefix (what the context holds of it already is kept)
                held = common_prefix_length(list(llm.input_ids[:llm.n_tokens]), work.prefix)
                llm.n_tokens = held  # eval drops the KV cells from here on
                llm.eval(work.prefix[held:])
                started = time.perf_counter()
                llm.eval(work.new)
                token = llama_cpp.llama_sampler_sample(greedy, llm.ctx, -1)
                llm.eval([token])
                llama_cpp.llama_sampler_sample(greedy, llm.ctx, -1)
                best = min(best, time.perf_counter() - started)
            results[work.turn] = best
    finally:
        llama_cpp.llama_sampler_free(greedy)
        llm.close()
    return results


def mlx_runner(works: Sequence[TurnWork], repeats: int) -> dict[int, float]:
    """Seconds per turn, lmstream's MLX batch runner in process: prefill the new tokens on top
    of a cache holding the prefix, take the first token, one decode step."""
    from lmstream import GenerationParameters
    from lmstream.backend import GenerationControl, SequenceRequest
    from lmstream_mlx.model import create_backend

    backend = create_backend(None)
    runner = backend.new_batch_runner()
    parameters = GenerationParameters(max_tokens=4, temperature=0.0)
    results: dict[int, float] = {}
    seq_id = 0

    def request(prompt: list[int], cache: Any) -> int:
        nonlocal seq_id
        seq_id += 1
        runner.add(SequenceRequest(seq_id, tuple(prompt), parameters, cache,
                                   GenerationControl(threading.Event(), max_tokens=4)))
        return seq_id

    cache = backend.new_cache()  # across turns: each prefix extends the previous one
    try:
        for work in works:
            best = float("inf")
            for _ in range(repeats):
                first = request(work.prefix, cache)  # untimed: the cached prefix (reused part kept)
                while not runner.prefill(first, 1 << 20):
                    pass
                runner.step([first])  # feeds the prefix's last id: the cache holds all of it
                runner.remove(first)
                second = request(work.prefix + work.new, cache)
                started = time.perf_counter()
                while not runner.prefill(second, 1 << 20):
                    pass
                runner.step([second])  # the first token (sampled from the prompt's logits)
                runner.step([second])  # one decode step
                best = min(best, time.perf_counter() - started)
                runner.remove(second)
            results[work.turn] = best
    finally:
        runner.close()
        backend.close()
    return results


def measure(backend: str, conversations: Sequence[tuple[int, list[dict[str, Any]], int, int]],
            n_ctx: int, repeats: int = 2) -> dict[int, float]:
    """Turn -> seconds of the yardstick for one lmstream side (``llama_cpp`` or ``mlx``)."""
    options: dict[str, Any] = {"n_ctx": n_ctx} if backend == "llama_cpp" else {}
    works = turn_work(backend, conversations, options)
    if backend == "llama_cpp":
        return llama_cpp_direct(works, n_ctx, repeats)
    return mlx_runner(works, repeats)
