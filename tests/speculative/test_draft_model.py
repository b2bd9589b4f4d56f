"""The draft_model drafter: the vocabulary check at load, proposals equal the draft model's greedy
continuation, rejected proposals are trimmed from its cache (tiny model, draft = target); and,
marked slow, greedy output with draft = target equals plain decoding on the default model on
both backends, with every draft accepted."""

from __future__ import annotations

import importlib.util
import sys
from collections.abc import Iterator, Sequence
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

sys.path.insert(0, str(Path(__file__).parent))
sys.path.insert(0, str(Path(__file__).parents[1] / "mlx"))  # tiny_model, gguf_writer

from verify_driver import request, run_rows

from lmstream_drafters.draft_model import DraftModelDrafter, VocabularyMismatch, check_vocabulary

HAS_MLX = importlib.util.find_spec("mlx") is not None and importlib.util.find_spec("mlx_lm") is not None


class FakeTokenizer:
    def __init__(self, shift: int = 0, eos: frozenset[int] = frozenset({2})) -> None:
        self.shift, self.eos_token_ids = shift, eos
        self.bos_token = self.eos_token = None

    def encode(self, text: str, *, add_special_tokens: bool = True) -> list[int]:
        return [ord(c) + self.shift for c in text]

    def decode(self, ids: Sequence[int], *, skip_special_tokens: bool = False) -> str:
        return "".join(chr(i - self.shift) for i in ids)


def fake(name: str, tokenizer: FakeTokenizer, vocab_size: int | None = 100) -> Any:
    return SimpleNamespace(info=SimpleNamespace(name=name), tokenizer=tokenizer, vocab_size=vocab_size)


def test_the_vocabulary_check_names_both_models_and_what_differs() -> None:
    check_vocabulary(fake("big", FakeTokenizer()), fake("small", FakeTokenizer()))
    check_vocabulary(fake("big", FakeTokenizer(), None), fake("small", FakeTokenizer(), 7))
    with pytest.raises(VocabularyMismatch, match=r"'small' and target model 'big'.*vocabulary sizes"):
        check_vocabulary(fake("big", FakeTokenizer()), fake("small", FakeTokenizer(), 101))
    with pytest.raises(VocabularyMismatch, match="different token ids"):
        check_vocabulary(fake("big", FakeTokenizer()), fake("small", FakeTokenizer(shift=1)))
    with pytest.raises(VocabularyMismatch, match="end-of-sequence"):
        check_vocabulary(fake("big", FakeTokenizer()), fake("small", FakeTokenizer(eos=frozenset({3}))))


def test_bad_options_are_refused_by_name() -> None:
    target = fake("big", FakeTokenizer())
    with pytest.raises(TypeError, match="draft_model"):
        DraftModelDrafter.load(target, model=3)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="draft_max_tokens"):
        DraftModelDrafter.load(target, max_tokens=0)
    with pytest.raises(TypeError, match="draft_options"):
        DraftModelDrafter.load(target, options=[1])  # type: ignore[arg-type]


@pytest.fixture(scope="module")
def tiny(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    if not HAS_MLX:
        pytest.skip("mlx and mlx-lm are not installed")
    from tiny_model import write_tiny_llama

    import lmstream

    path = write_tiny_llama(tmp_path_factory.mktemp("tiny") / "tiny.gguf")
    context = lmstream.load(str(path), backend="mlx", blas=False, cpu_streams=1)
    yield context
    context.close()


def test_proposals_are_the_draft_models_greedy_tokens_and_rejections_are_trimmed(tiny: Any) -> None:
    prompt = [100, 7, 99, 3, 3, 3, 200]
    reference = run_rows(tiny, [request(0, prompt)], 16)[0][0]
    drafter = tiny.worker.call(DraftModelDrafter.load, tiny.backend_model, None, 5,
                               {"blas": False, "cpu_streams": 1})

    def job() -> tuple[list[int], list[int], list[int], list[int]]:
        state = drafter.start(tuple(prompt), None)
        first = list(state.propose(prompt, 5))
        held_after_first = state.cache.tokens
        state.feedback(5, 2)  # the target kept 2 drafts, then sampled its own third token
        trimmed = state.cache.tokens
        second = list(state.propose(prompt + reference[:3], 8))  # max_tokens caps it at 5
        state.close()
        return first, held_after_first, trimmed, second

    try:
        first, held, trimmed, second = tiny.worker.call(job)
    finally:
        tiny.worker.call(drafter.close)
    assert first == reference[:5]
    assert held == prompt + reference[:4]  # the last proposal was never fed
    assert trimmed == prompt + reference[:2]
    assert second == reference[3:8]


@pytest.mark.slow
@pytest.mark.parametrize("backend", ["mlx", "llama_cpp"])
def test_draft_equal_to_target_is_accepted_and_keeps_the_greedy_output(
        backend: str, require_backend: Any) -> None:
    from verify_driver import COPY_TASK, generate_ids

    import lmstream

    require_backend(backend)
    context = lmstream.load(backend=backend, drafter="draft_model", draft_max_tokens=4,
                            prefix_cache_bytes=0)
    try:
        plain, _ = generate_ids(context, COPY_TASK, 24, speculative=False)
        drafted, stats = generate_ids(context, COPY_TASK, 24, speculative=True)
    finally:
        context.close()
    assert drafted == plain
    # the same weights propose what the target picks: all but near-ties (different batch
    # shapes round differently) are accepted
    assert stats.draft_tokens_proposed > 0
    assert stats.draft_tokens_accepted >= 0.8 * stats.draft_tokens_proposed


@pytest.mark.slow
def test_a_draft_model_with_another_vocabulary_is_refused_at_load(tiny: Any) -> None:
    import lmstream

    def job() -> None:
        DraftModelDrafter.load(tiny.backend_model, str(lmstream.backend.default_model_path()))

    with pytest.raises(VocabularyMismatch, match=r"draft model .* and target model 'tiny'"):
        tiny.worker.call(job)


def test_unknown_draft_options_are_refused_by_name(tiny: Any) -> None:
    import lmstream

    with pytest.raises(TypeError, match="draft_nonsense"):
        lmstream.load(str(tiny.backend_model.info.path), backend="mlx", drafter="draft_model",
                      draft_nonsense=1)
