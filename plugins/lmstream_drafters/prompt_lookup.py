"""Prompt lookup (n-gram) drafting: propose what followed the last time the recent tokens occurred.

The sequence's tokens (prompt, then output) are indexed incrementally: for every n from
``ngram_min`` to ``ngram_max``, each n-gram maps to where its latest occurrence ended. To
propose, the state looks up the sequence's last ``ngram_max`` tokens, then shorter suffixes,
and proposes the tokens that followed the longest one's latest earlier occurrence (as vLLM's
n-gram and llama.cpp's lookup drafters do). Each new token costs ``ngram_max - ngram_min + 1``
dictionary updates, so a step's work does not grow with the context (the prompt is indexed
once, when the generation is admitted). No model runs: this pays off where the answer repeats spans of
its input (a code edit, a quoted tool result, a summary with citations) and costs nothing
where it does not (the core pauses drafting for a sequence whose drafts keep missing).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from lmstream import Drafter, DraftState, GenerationParameters

DEFAULT_MAX_TOKENS = 8
"""Draft tokens proposed at most per step (the core asks for fewer while acceptance is low)."""
DEFAULT_NGRAM_MAX = 4
DEFAULT_NGRAM_MIN = 1
OPTIONS = ("max_tokens", "ngram_max", "ngram_min")
"""The drafter's load options (``draft_max_tokens=``, ``draft_ngram_max=``, ``draft_ngram_min=``)."""


class PromptLookupState(DraftState):
    """One generation's n-gram index over its tokens (prompt and output)."""

    def __init__(self, max_tokens: int, ngram_max: int, ngram_min: int) -> None:
        self.max_tokens = max_tokens
        self.sizes = range(ngram_min, ngram_max + 1)
        self._ends: dict[int, dict[tuple[int, ...], int]] = {n: {} for n in self.sizes}
        """n -> n-gram -> end (exclusive) of its latest occurrence."""
        self._indexed = 0
        """N-grams ending at positions up to this one are indexed."""

    def index(self, prompt: Sequence[int]) -> None:
        """Index a prompt up front (``propose`` then only indexes what was generated since)."""
        self._index(prompt, len(prompt) - 1)

    def _index(self, tokens: Sequence[int], upto: int) -> None:
        """Index the n-grams ending at positions ``_indexed + 1 .. upto``."""
        ends = self._ends
        for end in range(self._indexed + 1, upto + 1):
            for n in self.sizes:
                if end >= n:
                    ends[n][tuple(tokens[end - n:end])] = end
        self._indexed = max(self._indexed, upto)

    def propose(self, tokens: Sequence[int], limit: int) -> Sequence[int]:
        """The continuation of the longest suffix of ``tokens`` that occurred before."""
        length = len(tokens)
        if length < self._indexed + 1:  # never shrinks in the core; start over if it did
            self._ends = {n: {} for n in self.sizes}
            self._indexed = 0
        # index every n-gram that ends before the last token: the suffix itself is not a match
        self._index(tokens, length - 1)
        count = min(limit, self.max_tokens)
        if count <= 0:
            return ()
        for n in reversed(self.sizes):
            if length < n:
                continue
            end = self._ends[n].get(tuple(tokens[length - n:]))
            if end is not None:
                return list(tokens[end:end + count])
        return ()


class PromptLookupDrafter(Drafter):
    """``drafter="prompt_lookup"``: a ``PromptLookupState`` per generation, no model."""

    name = "prompt_lookup"

    def __init__(self, max_tokens: int = DEFAULT_MAX_TOKENS, ngram_max: int = DEFAULT_NGRAM_MAX,
                 ngram_min: int = DEFAULT_NGRAM_MIN) -> None:
        for option, value in (("max_tokens", max_tokens), ("ngram_max", ngram_max),
                              ("ngram_min", ngram_min)):
            if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= 64:
                raise ValueError(f"draft_{option} must be an int from 1 to 64, not {value!r}")
        if ngram_min > ngram_max:
            raise ValueError(f"draft_ngram_min ({ngram_min}) must not exceed "
                             f"draft_ngram_max ({ngram_max})")
        self.max_tokens = max_tokens
        self.ngram_max = ngram_max
        self.ngram_min = ngram_min

    @classmethod
    def from_options(cls, **options: Any) -> PromptLookupDrafter:
        """Built from the ``draft_*`` load options (prefix removed); unknown ones are refused."""
        unknown = sorted(set(options) - set(OPTIONS))
        if unknown:
            raise TypeError(f"prompt_lookup drafter: unknown option(s) "
                            f"{', '.join('draft_' + u for u in unknown)}; known: "
                            f"{', '.join('draft_' + o for o in OPTIONS)}")
        return cls(**options)

    def start(self, prompt: Sequence[int], parameters: GenerationParameters) -> DraftState:
        """A fresh n-gram index for this generation, the prompt already in it (this runs when
        the generation is admitted, next to its prefill, not in a decode step)."""
        state = PromptLookupState(self.max_tokens, self.ngram_max, self.ngram_min)
        state.index(prompt)
        return state
