"""LlamaCppBatchRunner.verify on the default model (slow, short): empty drafts equal ``step``,
drafts copied from the greedy output are all accepted, a wrong draft is corrected and the KV
cells stay right (the tokens after it are still greedy), rows with different draft counts share
one ``llama_decode``, the cache holds the fed ids."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import pytest

sys.path.insert(0, str(Path(__file__).parent))

from verify_driver import from_reference, request, run_rows

pytestmark = pytest.mark.slow

TAKE = 20  # the 24th token of the third prompt is a near-tie that flips between batch layouts
PROMPTS = [[1, 9690, 314, 253, 2365, 47], [1, 4093, 28, 216], [1, 504, 3158, 282, 4649, 30, 422, 3158, 282]]


@pytest.fixture(scope="module")
def context(default_contexts: Any) -> Any:
    return default_contexts("llama_cpp")


def reference(context: Any, **parameters: Any) -> dict[int, list[int]]:
    out, _ = run_rows(context, [request(i, p, **parameters) for i, p in enumerate(PROMPTS)], TAKE)
    return out


def test_verify_on_the_default_model(context: Any) -> None:
    runner = context.worker.call(context.backend_model.new_batch_runner)
    assert runner.max_draft_tokens >= 4
    expected = reference(context)
    requests = [request(i, p) for i, p in enumerate(PROMPTS)]
    empty, calls = run_rows(context, requests, TAKE, lambda i, s: [])
    assert empty == expected and calls == TAKE
    requests = [request(i, p) for i, p in enumerate(PROMPTS)]
    right, calls = run_rows(context, requests, TAKE, from_reference(expected, 7))
    assert right == expected and calls == -(-TAKE // 8)  # 8 tokens a call (the first from prefill)
    requests = [request(i, p) for i, p in enumerate(PROMPTS)]
    wrong, calls = run_rows(context, requests, TAKE, from_reference(expected, 4, 2, 49152))
    assert wrong == expected and calls == -(-TAKE // 3)


def test_mixed_rows_and_the_cache_holds_the_fed_ids(context: Any) -> None:
    expected = reference(context)
    good, bad = from_reference(expected, 6), from_reference(expected, 5, 0, 49152)

    def drafts(seq_id: int, so_far: list[int]) -> list[int]:
        return [] if seq_id == 1 else list((bad if seq_id == 2 else good)(seq_id, so_far))

    caches = [context.new_cache() for _ in PROMPTS]
    got, _ = run_rows(context, [request(i, p, caches[i]) for i, p in enumerate(PROMPTS)], TAKE, drafts)
    assert got == expected
    for i, prompt in enumerate(PROMPTS):
        assert caches[i].tokens == prompt + expected[i][:-1]



def test_prompt_lookup_on_the_default_model_gives_the_greedy_output() -> None:
    from verify_driver import COPY_TASK, generate_ids

    import lmstream

    context = lmstream.load(backend="llama_cpp", drafter="prompt_lookup", prefix_cache_bytes=0)
    try:
        plain, off = generate_ids(context, COPY_TASK, 24, speculative=False)
        drafted, on = generate_ids(context, COPY_TASK, 24, speculative=True)
    finally:
        context.close()
    assert drafted == plain
    assert off.draft_tokens_proposed == 0
    assert on.draft_tokens_accepted > 0
