"""MlxBatchRunner.verify on the tiny model (exact arithmetic: mlx's own kernels, no BLAS) and,
marked slow, on the default model: empty drafts equal ``step``, drafts copied from the greedy
output are all accepted, a wrong draft is corrected and the KV stays right, rows with different
draft counts share one call, a seeded sampled run is unchanged by drafts, caches hold exactly
the fed ids."""

from __future__ import annotations

import importlib.util
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

if importlib.util.find_spec("mlx") is None or importlib.util.find_spec("mlx_lm") is None:
    pytest.skip("mlx and mlx-lm are not installed (pip install 'lmstream[mlx]')", allow_module_level=True)

sys.path.insert(0, str(Path(__file__).parent))
sys.path.insert(0, str(Path(__file__).parents[1] / "mlx"))  # tiny_model, gguf_writer

from verify_driver import from_reference, request, run_rows

VOCAB = 268
TAKE = 12
PROMPTS = [[10, 11, 12, 13, 14], [40, 41], [100, 7, 99, 3, 3, 3, 200]]


@pytest.fixture(scope="module")
def context(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    """The tiny model with mlx's own kernels only: a row's arithmetic does not depend on how
    many positions or rows a call has, so tokens must match exactly."""
    from tiny_model import write_tiny_llama

    import lmstream

    path = write_tiny_llama(tmp_path_factory.mktemp("tiny") / "tiny.gguf")
    context = lmstream.load(str(path), backend="mlx", blas=False, cpu_streams=1)
    yield context
    context.close()


def reference(context: Any, take: int = TAKE, **parameters: Any) -> dict[int, list[int]]:
    out, _ = run_rows(context, [request(i, p, **parameters) for i, p in enumerate(PROMPTS)], take)
    return out


def test_the_runner_says_it_can_verify(context: Any) -> None:
    runner = context.worker.call(context.backend_model.new_batch_runner)
    assert runner.max_draft_tokens >= 4


def test_empty_drafts_equal_step(context: Any) -> None:
    expected = reference(context)
    got, calls = run_rows(context, [request(i, p) for i, p in enumerate(PROMPTS)], TAKE, lambda i, s: [])
    assert got == expected
    assert calls == TAKE


def test_drafts_from_the_greedy_output_are_all_accepted(context: Any) -> None:
    expected = reference(context)
    got, calls = run_rows(context, [request(i, p) for i, p in enumerate(PROMPTS)], TAKE,
                          from_reference(expected, 4))
    assert got == expected
    assert calls == 3  # 5 tokens per call (4 drafts + the next), 12 tokens


@pytest.mark.parametrize("wrong_at", [0, 1, 3])
def test_a_wrong_draft_is_corrected_and_the_rest_stays_greedy(context: Any, wrong_at: int) -> None:
    expected = reference(context)
    got, calls = run_rows(context, [request(i, p) for i, p in enumerate(PROMPTS)], TAKE,
                          from_reference(expected, 4, wrong_at, VOCAB))
    assert got == expected
    assert calls == TAKE // (wrong_at + 1)  # each call keeps the drafts before the wrong one + 1


def test_mixed_rows_in_one_call_and_caches_hold_the_fed_ids(context: Any) -> None:
    expected = reference(context)
    counts = {0: 5, 1: 0, 2: 2}
    good = from_reference(expected, 8)
    bad = from_reference(expected, 3, 1, VOCAB)

    def drafts(seq_id: int, so_far: list[int]) -> list[int]:
        if seq_id == 2:
            return bad(seq_id, so_far)
        return list(good(seq_id, so_far))[:counts[seq_id]]

    caches = [context.new_cache() for _ in PROMPTS]
    got, _ = run_rows(context, [request(i, p, caches[i]) for i, p in enumerate(PROMPTS)], TAKE, drafts)
    assert got == expected
    for i, prompt in enumerate(PROMPTS):
        assert caches[i].tokens == prompt + expected[i][:-1]  # the last token was never fed
        assert all(layer.offset == len(caches[i].tokens) for layer in caches[i].layers)


def test_a_seeded_sampled_run_is_the_same_with_drafts(context: Any) -> None:
    parameters = {"temperature": 1.5, "seed": 7, "top_k": 20}
    expected = reference(context, **parameters)
    got, _ = run_rows(context, [request(i, p, **parameters) for i, p in enumerate(PROMPTS)], TAKE,
                      from_reference(expected, 3, 2, VOCAB))
    assert got == expected


def test_penalties_see_the_accepted_drafts(context: Any) -> None:
    parameters = {"repetition_penalty": 1.5, "frequency_penalty": 0.5}
    expected = reference(context, **parameters)
    got, _ = run_rows(context, [request(i, p, **parameters) for i, p in enumerate(PROMPTS)], TAKE,
                      from_reference(expected, 4, 2, VOCAB))
    assert got == expected


def test_logprob_rows_ignore_drafts_and_match_step(context: Any) -> None:
    expected = reference(context, logprobs=True)
    got, calls = run_rows(context, [request(i, p, logprobs=True) for i, p in enumerate(PROMPTS)], TAKE,
                          from_reference(expected, 4))
    assert got == expected
    assert calls == TAKE


@settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.lists(st.tuples(st.integers(0, 8), st.integers(-1, 8), st.integers(0, VOCAB - 1)),
                min_size=3, max_size=3))
def test_any_drafts_leave_greedy_output_unchanged(context: Any, plan: list[tuple[int, int, int]]) -> None:
    expected = REFERENCE.setdefault("greedy", reference(context))

    def drafts(seq_id: int, so_far: list[int]) -> list[int]:
        count, wrong_at, other = plan[seq_id]
        proposal = list(expected[seq_id][len(so_far):len(so_far) + count])
        if 0 <= wrong_at < len(proposal):
            proposal[wrong_at] = other
        return proposal

    got, _ = run_rows(context, [request(i, p) for i, p in enumerate(PROMPTS)], TAKE, drafts)
    assert got == expected


REFERENCE: dict[str, dict[int, list[int]]] = {}


class EvenIds:
    """A structured-output constraint stand-in: only even ids are allowed; records advances."""

    def __init__(self) -> None:
        self.advanced: list[int] = []

    def advance(self, token: int) -> None:
        if token % 2:
            raise ValueError(f"odd token {token} was fed to the constraint")
        self.advanced.append(token)

    def mask(self) -> Any:
        import numpy as np

        allowed = np.zeros(VOCAB, dtype=np.bool_)
        allowed[::2] = True
        return allowed


def test_the_constraint_masks_every_verified_position_and_advances_only_through_accepted(
        context: Any) -> None:
    plain = [EvenIds() for _ in PROMPTS]
    expected, _ = run_rows(context, [request(i, p, constraint=plain[i]) for i, p in enumerate(PROMPTS)], TAKE)
    assert all(t % 2 == 0 for out in expected.values() for t in out)
    odd = from_reference(expected, 4, 1, VOCAB)  # the wrong draft is odd: the mask forbids it
    constrained = [EvenIds() for _ in PROMPTS]
    got, _ = run_rows(context, [request(i, p, constraint=constrained[i]) for i, p in enumerate(PROMPTS)],
                      TAKE, odd)
    assert got == expected
    for i in range(len(PROMPTS)):
        assert constrained[i].advanced == plain[i].advanced == expected[i][:-1]


def test_a_row_alone_verifies_on_its_own_cache(context: Any) -> None:
    expected, _ = run_rows(context, [request(0, PROMPTS[2])], TAKE)
    cache = context.new_cache()
    got, calls = run_rows(context, [request(0, PROMPTS[2], cache)], TAKE,
                          from_reference(expected, 5, 3, VOCAB))
    assert got == expected and calls == 3
    assert cache.tokens == PROMPTS[2] + expected[0][:-1]
    assert all(layer.offset == len(cache.tokens) for layer in cache.layers)


@pytest.mark.slow
def test_prompt_lookup_on_the_default_model_gives_the_greedy_output() -> None:
    from verify_driver import COPY_TASK, generate_ids

    import lmstream

    context = lmstream.load(backend="mlx", drafter="prompt_lookup", prefix_cache_bytes=0)
    try:
        plain, off = generate_ids(context, COPY_TASK, 24, speculative=False)
        drafted, on = generate_ids(context, COPY_TASK, 24, speculative=True)
    finally:
        context.close()
    assert drafted == plain
    assert off.draft_tokens_proposed == 0
    assert on.draft_tokens_accepted > 0


@pytest.mark.parametrize("setting", [{"max_kv_size": 64}, {"kv_bits": 8, "kv_group_size": 32, "quantized_kv_start": 0}])
def test_rows_whose_cache_cannot_always_go_back_ignore_drafts(context: Any, setting: dict[str, Any]) -> None:
    expected = reference(context, **setting)
    got, calls = run_rows(context, [request(i, p, **setting) for i, p in enumerate(PROMPTS)], TAKE,
                          from_reference(expected, 4))
    assert got == expected
    assert calls == TAKE  # every call a plain step


@pytest.fixture(scope="module")
def numpy_context(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    """The tiny model on mlx's CPU numpy decoder layers (the default there): rows keep their own
    caches and a batched call passes ``RowCaches``."""
    from tiny_model import write_tiny_llama

    import lmstream

    path = write_tiny_llama(tmp_path_factory.mktemp("tiny_numpy") / "tiny.gguf")
    context = lmstream.load(str(path), backend="mlx", cpu_streams=1)
    yield context
    context.close()


NUMPY_PROMPTS = [*PROMPTS, [5, 6, 7]]


def _count_calls(monkeypatch: pytest.MonkeyPatch) -> list[tuple[int, bool]]:
    """Record each ``_verify_rows`` call: how many rows, and whether on the rows' own caches."""
    from lmstream_mlx import verify as verify_module

    calls: list[tuple[int, bool]] = []
    original = verify_module._verify_rows

    def counted(runner: Any, ids: list[int], layers: Any, wanted: Any, *, shared: bool) -> Any:
        calls.append((len(ids), layers is None))
        return original(runner, ids, layers, wanted, shared=shared)

    monkeypatch.setattr(verify_module, "_verify_rows", counted)
    return calls


def test_numpy_rows_verify_in_one_call_and_caches_hold_the_fed_ids(
        numpy_context: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    """Rows with 0, 1 and several drafts, agreeing and disagreeing, in one verify call on the
    numpy layers: the tokens of plain greedy stepping, each row's caches exactly its fed ids."""
    from lmstream_mlx.cpu_decoder import serves_rows

    assert serves_rows(numpy_context.backend_model.model)
    expected, _ = run_rows(numpy_context, [request(i, p) for i, p in enumerate(NUMPY_PROMPTS)], TAKE)
    good = from_reference(expected, 8)
    bad = from_reference(expected, 4, 1, VOCAB)
    counts = {0: 5, 1: 0, 3: 1}

    def drafts(seq_id: int, so_far: list[int]) -> list[int]:
        return bad(seq_id, so_far) if seq_id == 2 else list(good(seq_id, so_far))[:counts[seq_id]]

    calls = _count_calls(monkeypatch)
    caches = [numpy_context.new_cache() for _ in NUMPY_PROMPTS]
    got, _ = run_rows(numpy_context, [request(i, p, caches[i]) for i, p in enumerate(NUMPY_PROMPTS)], TAKE, drafts)
    assert got == expected
    # the drafting rows in one call on their own caches (the row without drafts may take a
    # plain step of its own when the cost plan finds that cheaper: verify._plan)
    assert calls and calls[0][0] >= len(NUMPY_PROMPTS) - 1 and calls[0][1]
    assert all(rows >= 2 and own for rows, own in calls)  # never row by row
    for i, prompt in enumerate(NUMPY_PROMPTS):
        assert caches[i].tokens == prompt + expected[i][:-1]  # the last token was never fed
        assert all(layer.offset == len(caches[i].tokens) for layer in caches[i].layers)


@settings(max_examples=8, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.lists(st.tuples(st.integers(0, 6), st.integers(-1, 6), st.integers(0, VOCAB - 1)),
                min_size=len(NUMPY_PROMPTS), max_size=len(NUMPY_PROMPTS)))
def test_numpy_rows_any_drafts_leave_greedy_output_unchanged(
        numpy_context: Any, plan: list[tuple[int, int, int]]) -> None:
    expected = REFERENCE.setdefault("numpy", run_rows(
        numpy_context, [request(i, p) for i, p in enumerate(NUMPY_PROMPTS)], TAKE)[0])

    def drafts(seq_id: int, so_far: list[int]) -> list[int]:
        count, wrong_at, other = plan[seq_id]
        proposal = list(expected[seq_id][len(so_far):len(so_far) + count])
        if 0 <= wrong_at < len(proposal):
            proposal[wrong_at] = other
        return proposal

    got, _ = run_rows(numpy_context, [request(i, p) for i, p in enumerate(NUMPY_PROMPTS)], TAKE, drafts)
    assert got == expected


@pytest.mark.slow
def test_four_concurrent_prompt_lookup_streams_equal_the_streams_without(monkeypatch: pytest.MonkeyPatch) -> None:
    """The default model (numpy layers on CPU): 4 streams at once with prompt lookup give the
    tokens of the same 4 streams without a drafter, rows verified together on their own caches."""
    from concurrent.futures import ThreadPoolExecutor

    from verify_driver import COPY_TASK, generate_ids

    import lmstream

    texts = [COPY_TASK,
             "Repeat exactly: the quick brown fox jumps over the lazy dog, the quick brown fox.",
             "Say hello in three languages.",
             COPY_TASK.replace("area", "volume")]

    def run_all(context: Any, speculative: bool) -> list[tuple[list[int], Any]]:
        with ThreadPoolExecutor(len(texts)) as pool:
            return list(pool.map(lambda t: generate_ids(context, t, 24, speculative), texts))

    plain_context = lmstream.load(backend="mlx", prefix_cache_bytes=0)
    try:
        plain = run_all(plain_context, False)
    finally:
        plain_context.close()
    calls = _count_calls(monkeypatch)
    drafted_context = lmstream.load(backend="mlx", drafter="prompt_lookup", prefix_cache_bytes=0)
    try:
        drafted = run_all(drafted_context, True)
    finally:
        drafted_context.close()
    assert [ids for ids, _ in drafted] == [ids for ids, _ in plain]
    assert sum(stats.draft_tokens_accepted for _, stats in drafted) > 0
    assert any(rows >= 2 and own for rows, own in calls)


def test_padding_pays_only_when_enough_rows_draft() -> None:
    """One padded call when most rows draft; a plain step plus a call per drafting row when few do."""
    from lmstream_mlx.verify import _plan

    assert _plan([4] * 8) == "padded"
    assert _plan([4] + [0] * 7) != "padded"
    assert _plan([1, 1]) == "padded"


def test_numpy_rows_with_one_drafting_row_verify_it_alone(
        numpy_context: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    """Few drafting rows go through their own call (the others take one plain step): same tokens."""
    from lmstream_mlx.verify import _plan

    expected = REFERENCE.setdefault("numpy", run_rows(
        numpy_context, [request(i, p) for i, p in enumerate(NUMPY_PROMPTS)], TAKE)[0])
    good = from_reference(expected, 8)
    assert _plan([8, 0, 0, 0]) != "padded"  # grouped or split: one drafting row is its own call
    calls = _count_calls(monkeypatch)

    def drafts(seq_id: int, so_far: list[int]) -> list[int]:
        return list(good(seq_id, so_far)) if seq_id == 0 else []

    got, _ = run_rows(numpy_context, [request(i, p) for i, p in enumerate(NUMPY_PROMPTS)], TAKE, drafts)
    assert got == expected
    assert calls[0] == (1, False)  # its 8 drafts: a call of its own, not a padded one over all rows


def test_numpy_rows_where_half_draft_long_group_the_drafting_rows() -> None:
    """Two of four rows drafting 6 tokens: a plain step for two rows plus one call for the
    drafting two feeds fewer positions than padding all four; ``verify_cost`` reports it."""
    from lmstream_mlx.verify import CALL_POSITIONS, _plan, call_cost, verify_cost

    assert _plan([6, 6, 0, 0]) == "grouped"
    assert _plan([6, 6, 6, 6]) == "padded"
    assert verify_cost([6, 6, 0, 0], own_caches=True) == call_cost(2) + call_cost(2 * 7)
    assert verify_cost([6, 6, 0, 0], own_caches=False) == CALL_POSITIONS + 4 * 7  # shared batch caches pad
    assert verify_cost([0] * 8, own_caches=True) == call_cost(8)
    assert verify_cost([3], own_caches=True) == call_cost(4)


def test_numpy_rows_grouped_verification_gives_the_same_tokens(
        numpy_context: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    expected = REFERENCE.setdefault("numpy", run_rows(
        numpy_context, [request(i, p) for i, p in enumerate(NUMPY_PROMPTS)], TAKE)[0])
    good = from_reference(expected, 6)
    calls = _count_calls(monkeypatch)

    def drafts(seq_id: int, so_far: list[int]) -> list[int]:
        return list(good(seq_id, so_far)) if seq_id < 2 else []

    got, _ = run_rows(numpy_context, [request(i, p) for i, p in enumerate(NUMPY_PROMPTS)], TAKE, drafts)
    assert got == expected
    assert calls[0] == (2, True)  # the two drafting rows in one call on their own caches
