"""The draft-model drafter: a second, smaller model on the same backend proposes greedy tokens.

``load(..., drafter="draft_model", draft_model="small.gguf")`` loads the small model with the
target's backend (through the backend registry, like ``lmstream.load`` does) and checks at
load that both models share the vocabulary: the same ids for a probe text in several
scripts, the same EOS ids and, where the backend says, the same vocabulary size; otherwise
it refuses with an error that names both models. Without ``draft_model`` the target model
itself is loaded a second time (draft = target: every greedy draft is accepted, which shows
the acceptance path and measures what drafting costs).

Each generation gets a ``DraftModelState`` with its own prompt cache (its KV cache) on the
draft model. ``propose`` runs the draft model's ``BatchRunner`` on the tokens so far: the
cache's common prefix with them is reused (the drafts the target rejected were trimmed off
in ``feedback``), only the new tokens are prefilled, then ``k`` greedy steps give the
proposals. The runner's contract does all of it, so the drafter works on every backend with
a ``BatchRunner`` (MLX, llama.cpp). On llama.cpp a sequence's KV cells are saved into its
cache and restored at each proposal (one copy of the draft KV per step).

Options (``draft_`` prefixed at load): ``model`` (a path; default: the target's own model),
``max_tokens`` (proposals per step at most, default 8), ``options`` (a dict of backend load
options for the draft model, e.g. ``{"n_ctx": 2048}``).
"""

from __future__ import annotations

import itertools
import threading
from collections.abc import Mapping, Sequence
from typing import Any

from lmstream import GenerationParameters, get_plugin_system
from lmstream.backend import (
    BackendModel,
    BatchRunner,
    Drafter,
    DraftState,
    GenerationControl,
    SequenceRequest,
)

DEFAULT_MAX_TOKENS = 8
"""Tokens proposed per step at most (the core asks for fewer while acceptance is low)."""
PREFILL_CHUNK = 512
"""Prompt tokens the draft model prefills per call."""
PROBE = "The quick brown fox: 3.14, naïve café, 東京, def f(x): return x**2 # émoji 🙂\n"
"""Text whose ids both tokenizers must agree on (ASCII, code, Latin accents, CJK, emoji)."""
GREEDY = GenerationParameters(temperature=0.0)
OPTIONS = ("model", "max_tokens", "options")
"""The drafter's load options (``draft_model=``, ``draft_max_tokens=``, ``draft_options=``)."""


class VocabularyMismatch(ValueError):
    """The draft model's vocabulary is not the target's (its proposals would be other ids)."""


def check_vocabulary(target: BackendModel, draft: BackendModel) -> None:
    """Raise ``VocabularyMismatch`` unless both models tokenize alike (module docstring)."""
    names = f"draft model {draft.info.name!r} and target model {target.info.name!r}"
    sizes = (_vocab_size(target), _vocab_size(draft))
    if None not in sizes and sizes[0] != sizes[1]:
        raise VocabularyMismatch(f"{names} have different vocabulary sizes ({sizes[1]} vs {sizes[0]}); "
                                 "a draft model must share the target's tokenizer")
    ours, theirs = target.tokenizer, draft.tokenizer
    if ours.encode(PROBE, add_special_tokens=False) != theirs.encode(PROBE, add_special_tokens=False):
        raise VocabularyMismatch(f"{names} encode the same text to different token ids; a draft "
                                 "model must share the target's tokenizer")
    if ours.eos_token_ids != theirs.eos_token_ids:
        raise VocabularyMismatch(f"{names} have different end-of-sequence ids "
                                 f"({sorted(theirs.eos_token_ids)} vs {sorted(ours.eos_token_ids)})")


def _vocab_size(model: BackendModel) -> int | None:
    """The vocabulary size where the backend exposes it (mlx: ``vocab_size``; llama.cpp:
    its engine's ``n_vocab``)."""
    size = getattr(model, "vocab_size", None)
    if size is None:
        size = getattr(getattr(model, "engine", None), "n_vocab", None)
    return int(size) if isinstance(size, int) else None


class DraftModelState(DraftState):
    """One generation's draft sequence: its prompt cache on the draft model and its runner id."""

    def __init__(self, drafter: DraftModelDrafter, seq_id: int) -> None:
        self._drafter = drafter
        self._seq_id = seq_id
        self.cache = drafter.draft.new_cache()
        """The draft model's KV for this generation (holds the ids fed to it)."""
        self._fed_drafts = 0
        """Proposals of the last ``propose`` whose keys/values the cache holds."""

    def propose(self, tokens: Sequence[int], limit: int) -> Sequence[int]:
        """Greedy continuation of ``tokens`` by the draft model, ``limit`` tokens at most."""
        count = min(limit, self._drafter.max_tokens)
        if count <= 0 or not tokens:
            return ()
        runner = self._drafter.runner
        control = GenerationControl(threading.Event(), max_tokens=count)
        runner.add(SequenceRequest(self._seq_id, tuple(tokens), GREEDY, self.cache, control))
        out: list[int] = []
        try:
            while not runner.prefill(self._seq_id, PREFILL_CHUNK):
                pass
            for _ in range(count):
                (result,) = runner.step([self._seq_id])
                if result.error is not None:
                    break
                out.append(result.token)
        finally:
            runner.remove(self._seq_id)
        self._fed_drafts = max(len(out) - 1, 0)  # the last proposal was never fed
        return out

    def feedback(self, proposed: int, accepted: int) -> None:
        """Drop the rejected proposals' keys/values from the draft cache (where it can trim;
        otherwise the next ``propose`` reuses the common prefix, or starts afresh)."""
        rejected = self._fed_drafts - min(accepted, self._fed_drafts)
        self._fed_drafts = 0
        if rejected and self.cache.can_trim:
            self.cache.trim(rejected)

    def close(self) -> None:
        """Free the draft KV of this generation."""
        self.cache = self._drafter.draft.new_cache()


class DraftModelDrafter(Drafter):
    """Proposes with a second model on the target's backend (module docstring)."""

    name = "draft_model"

    def __init__(self, draft: BackendModel, max_tokens: int = DEFAULT_MAX_TOKENS) -> None:
        if not isinstance(max_tokens, int) or isinstance(max_tokens, bool) or max_tokens < 1:
            raise ValueError(f"draft_max_tokens must be a positive integer, not {max_tokens!r}")
        runner = draft.new_batch_runner()
        if runner is None:
            raise ValueError(f"the {draft.info.backend} backend has no batch runner; the draft_model "
                             "drafter needs one")
        self.draft = draft
        self.runner: BatchRunner = runner
        self.max_tokens = max_tokens
        self._ids = itertools.count()

    @classmethod
    def load(cls, target: BackendModel, model: str | None = None, max_tokens: int = DEFAULT_MAX_TOKENS,
             options: Mapping[str, Any] | None = None) -> DraftModelDrafter:
        """Load the draft model on ``target``'s backend (default: the target's own model file)
        and check that it shares the target's vocabulary."""
        if model is not None and not isinstance(model, str):
            raise TypeError(f"draft_model must be a model path (a string), not {model!r}")
        if options is not None and not isinstance(options, Mapping):
            raise TypeError(f"draft_options must be a dict of backend load options, not {options!r}")
        if not isinstance(max_tokens, int) or isinstance(max_tokens, bool) or max_tokens < 1:
            raise ValueError(f"draft_max_tokens must be a positive integer, not {max_tokens!r}")
        path = model if model is not None else target.info.path
        factory = get_plugin_system().backends.get(target.info.backend)
        draft = factory(None if path is None else str(path), **dict(options or {}))
        try:
            check_vocabulary(target, draft)
            return cls(draft, max_tokens)
        except BaseException:
            draft.close()
            raise

    @classmethod
    def from_options(cls, target: BackendModel, **options: Any) -> DraftModelDrafter:
        """Built from the ``draft_*`` load options (prefix removed); unknown ones are refused."""
        unknown = sorted(set(options) - set(OPTIONS))
        if unknown:
            raise TypeError(f"draft_model drafter: unknown option(s) "
                            f"{', '.join('draft_' + u for u in unknown)}; known: "
                            f"{', '.join('draft_' + o for o in OPTIONS)}")
        return cls.load(target, **options)

    def start(self, prompt: Sequence[int], parameters: GenerationParameters) -> DraftModelState:
        """A draft sequence for a new generation (its own cache, a fresh runner id)."""
        return DraftModelState(self, next(self._ids))

    def close(self) -> None:
        """Release the draft model."""
        self.runner.close()
        self.draft.close()
