"""The default model under a burst of chat requests (slow): short prompts arriving together are
prefilled in shared model calls (``MlxBatchRunner.prefill_many``) and every greedy stream
still produces the tokens of its request alone."""

from __future__ import annotations

import threading
from typing import Any

import pytest

pytestmark = pytest.mark.slow

QUESTIONS = ["Write a short story about a dragon who learns to fly.", "How tides work: what is it? One sentence.",
             "Write a short story about a robot gardener.", "Volcanoes: what is it? One sentence.",
             "Write a short story about a lighthouse keeper.", "The life of bees: what is it? One sentence.",
             "Write a short story about a lost umbrella.", "Northern lights: what is it? One sentence."]
TOKENS = 24


def test_a_burst_of_chat_requests_shares_prefill_calls_and_matches_each_alone(default_context: Any) -> None:
    import lmstream

    runner = default_context.scheduler._backend_lane.runner
    if not runner.shares_prefill:
        pytest.skip("this runner has no shared prefill")
    shared: list[int] = []
    original = runner.prefill_many

    def spy(ids: Any, sizes: Any) -> Any:
        shared.append(len(ids))
        return original(ids, sizes)

    def greedy(question: str) -> list[int]:
        prompt = lmstream.UserInput(messages=[{"role": "user", "content": question}])
        out = []
        for event in lmstream.generate_tokens(prompt, context=default_context, parameters={"max_tokens": TOKENS}):
            if isinstance(event, lmstream.Info):
                assert event.error is None
            else:
                out.append(event.id)
        return out

    alone = [greedy(q) for q in QUESTIONS]
    default_context.scheduler._backend_lane.prefill_many = spy
    try:
        together: list[list[int]] = [[] for _ in QUESTIONS]

        def run(index: int) -> None:
            together[index] = greedy(QUESTIONS[index])

        threads = [threading.Thread(target=run, args=(i,)) for i in range(len(QUESTIONS))]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=300)
    finally:
        default_context.scheduler._backend_lane.prefill_many = original
    assert shared and max(shared) >= 2, shared
    full = sum(a == b for a, b in zip(together, alone, strict=True))
    first = sum(a[:2] == b[:2] for a, b in zip(together, alone, strict=True))
    print(f"\nburst of 8 chat requests, prefill_many calls of {shared} prompts: {full}/8 match all "
          f"{TOKENS} tokens alone, {first}/8 the first 2")
    # shared prefill products round like batched steps (BLAS over several rows): early tokens agree
    assert first == len(QUESTIONS) and full >= 6
