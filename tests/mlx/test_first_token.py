"""The first token sampled from the last prompt chunk (numpy layers, ``MlxBatchRunner._first_token``).

On CPU's numpy layers the last prefill chunk also feeds the prompt's last id and samples the
first token from its logits, so the sequence's first step only reads it (no model call of its
own) and a newcomer does not wait for a batched step of the others for its first token. The
history the penalties read, the cache's ids and the error path stay what a first step gives;
rows that ask for logprobs (and a shared ``prefill_many`` call) keep the first step.
"""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

pytest.importorskip("mlx")
pytest.importorskip("mlx_lm")

from helpers import request

from lmstream_mlx import rows as rows_module

VOCAB = 268


def _request(seq_id: int, prompt: list[int], **parameters: Any) -> Any:
    return request(seq_id, prompt, max_tokens=8, **parameters)


def _model_calls(runner: Any) -> list[int]:
    """Count the runner's decode model calls (rows per call)."""
    calls: list[int] = []
    step_rows = runner._step_rows

    def counted(ids: list[int], layers: Any) -> Any:
        calls.append(len(ids))
        return step_rows(ids, layers)

    runner._step_rows = counted
    return calls


@settings(max_examples=15, deadline=None)
@given(prompt=st.lists(st.integers(3, VOCAB - 1), min_size=2, max_size=30), chunk=st.integers(1, 12))
def test_the_first_step_only_reads_the_token_the_last_chunk_sampled(tiny_context: Any, prompt: list[int],
                                                                    chunk: int) -> None:
    def job() -> tuple[list[int], list[int], list[int], int]:
        runner = tiny_context.backend_model.new_batch_runner()
        calls = _model_calls(runner)
        runner.add(_request(0, prompt, repetition_penalty=1.3))
        while not runner.prefill(0, chunk):
            pass
        row = runner._rows[0]
        history = [int(t) for t in row.setup.history.tolist()]
        first = runner.step([0])[0].token
        before_second = len(calls)
        out = [first] + [runner.step([0])[0].token for _ in range(3)]
        tokens = row.cache.tokens
        runner.remove(0)
        return history, out, tokens, before_second

    history, out, tokens, calls_for_first = tiny_context.worker.call(job)
    assert history == prompt  # the penalties saw every prompt id, the last one once
    assert calls_for_first == 0  # no model call for the first token
    assert tokens == prompt + out[:-1]


def test_a_newcomers_first_token_does_not_wait_for_a_batched_step(tiny_context: Any) -> None:
    def job() -> list[int]:
        runner = tiny_context.backend_model.new_batch_runner()
        calls = _model_calls(runner)
        runner.add(_request(0, [5, 6, 7, 8, 9]))
        while not runner.prefill(0, 16):
            pass
        runner.step([0])
        runner.add(_request(1, list(range(20, 40))))
        assert not runner.first_token_ready(1)
        while not runner.prefill(1, 16):
            pass
        assert runner.first_token_ready(1) and not runner.first_token_ready(0)
        calls.clear()
        results = runner.step([0, 1])
        assert all(r.error is None for r in results)
        runner.close()
        return calls

    assert tiny_context.worker.call(job) == [1]  # the older row stepped alone; the newcomer read


def test_rows_with_logprobs_take_their_first_token_in_a_step(tiny_context: Any) -> None:
    def job() -> tuple[list[int], Any]:
        runner = tiny_context.backend_model.new_batch_runner()
        calls = _model_calls(runner)
        runner.add(_request(0, list(range(30, 45)), logprobs=True, top_logprobs=2))
        while not runner.prefill(0, 16):
            pass
        assert not runner.first_token_ready(0)
        result = runner.step([0])[0]
        runner.close()
        return calls, result

    calls, result = tiny_context.worker.call(job)
    assert calls == [1] and result.logprob is not None and len(result.top_logprobs) == 2


def test_a_first_token_that_fails_to_sample_is_the_first_result(tiny_context: Any,
                                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    def failing(row: Any, logits: Any, fed: Any) -> Any:
        raise ValueError("the constraint has no token left")

    monkeypatch.setattr(rows_module, "sample_row", failing)

    def job() -> Any:
        runner = tiny_context.backend_model.new_batch_runner()
        runner.add(_request(0, list(range(50, 60))))
        while not runner.prefill(0, 16):
            pass
        assert runner.first_token_ready(0)  # its first result (the error) is there to read
        result = runner.step([0])[0]
        runner.remove(0)
        return result

    result = tiny_context.worker.call(job)
    assert isinstance(result.error, ValueError) and "no token left" in str(result.error)
