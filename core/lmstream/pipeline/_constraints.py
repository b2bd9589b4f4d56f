"""The constraint slot: engines (plugins) compile a spec into a token matcher; ``Constraint``
wraps it for one generation and keeps reasoning free.

A backend that masks logits calls, each decode step, ``constraint.mask()`` (a numpy bool row
over the vocabulary, or None when nothing is constrained at this step) and, after sampling,
``constraint.advance(token)``. The mask is one vectorised row: a backend applies it with one
``where`` (no Python loop over the vocabulary).

Reasoning rule: unless ``constrain_reasoning`` forces it, a prompt that opened reasoning leaves
the model free until the reasoning end marker has been generated (free except that it may not
end there: the constrained answer must still come); otherwise the first token may open
reasoning (the start marker's own tokens are allowed beside the constraint's). A reasoning
budget bounds the free part: once that many reasoning tokens are out, the end marker's tokens
are forced and the constraint starts, so the answer can never be trapped in reasoning. With no
constraint but a budget, a free matcher carries the budget alone.
"""

from __future__ import annotations

import threading
import weakref
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

from ..errors import GenerationError
from ..protocol import ConstraintSpec
from ._constraintspec import FreeMatcher, constraint_spec_for
from ._detokenize import make_detokenizer

if TYPE_CHECKING:
    import numpy as np
    from numpy.typing import NDArray

    from ..model import BackendModel, ModelInfo
    from ..protocol import GenerationParameters, LMInput

DEFAULT_ENGINE = "llguidance"



class GenerationContext(Protocol):
    """What building a constraint needs of a ``ModelContext`` (a protocol, so this module
    does not import the context and its dependencies)."""

    info: ModelInfo
    backend_model: BackendModel
    plugin_system: Any
    """The context's ``PluginSystem`` (its ``constraint_engines`` registry and resolvers)."""

class ConstraintError(GenerationError):
    """The constraint cannot go on: no token is allowed (unsatisfiable), or a token it forbids
    was fed. The stream ends with ``Info(error)`` carrying this."""


@dataclass(frozen=True, eq=False)
class Vocabulary:
    """What an engine needs to know of a model's tokens (one per loaded model, cached)."""

    tokenizer: Any
    """The backend's tokenizer (``backend_tokenizer`` or ``token_bytes`` tell the tokens' bytes)."""
    size: int
    """Width of the logits row (may exceed the tokenizer's vocabulary)."""
    eos_token_ids: frozenset[int]
    special_token_ids: frozenset[int]


@runtime_checkable
class TokenMatcher(Protocol):
    """One generation's state in an engine."""

    def fill_bitmask(self, words: NDArray[np.int32]) -> None:
        """Write the allowed tokens as bits (token i = bit i % 32 of word i // 32)."""

    def consume(self, token: int) -> bool:
        """Advance by one sampled token; False if the grammar rejects it."""

    def is_accepting(self) -> bool:
        """Whether the output so far is complete (EOS allowed)."""

    def error(self) -> str | None:
        """Why the matcher failed, or None."""


@runtime_checkable
class ConstraintEngine(Protocol):
    """A constraint-engine plugin (``register(name, engine)`` in
    ``lmstream_register_constraint_engines``)."""

    def matcher(self, spec: ConstraintSpec, vocabulary: Vocabulary) -> TokenMatcher:
        """Compile ``spec`` for ``vocabulary`` (cache as you like); raise ValueError with the
        engine's message when the spec is invalid or of a kind this engine does not support."""


class Constraint:
    """The per-generation object a backend sees as ``control.constraint`` (it satisfies
    ``lmstream.model.TokenConstraint``); not thread-safe (one sequence, one worker thread)."""

    __slots__ = (
        "_budget",
        "_closing",
        "_detok",
        "_end_ids",
        "_engine_mask",
        "_eos_list",
        "_free",
        "_marker_ids",
        "_matched",
        "_no_eos",
        "_spent",
        "_start_marker",
        "_tail",
        "_words",
        "end_marker",
        "eos_token_ids",
        "matcher",
        "state",
        "vocab_size",
    )

    def __init__(self, matcher: TokenMatcher, vocabulary: Vocabulary, *,
                 reasoning_markers: tuple[str, str] | None = None, in_reasoning: bool = False,
                 forced: bool = False, reasoning_budget: int | None = None) -> None:
        import numpy as np

        self.matcher = matcher
        self._free = isinstance(matcher, FreeMatcher)
        self._budget = reasoning_budget
        self._spent = 0
        self._closing = 0
        self._end_ids: list[int] = []
        if reasoning_markers is not None and reasoning_budget is not None:
            self._end_ids = list(vocabulary.tokenizer.encode(reasoning_markers[1],
                                                             add_special_tokens=False))
        self.vocab_size = vocabulary.size
        self.eos_token_ids = vocabulary.eos_token_ids
        self._eos_list = sorted(t for t in vocabulary.eos_token_ids if t < vocabulary.size)
        self._words = np.zeros((vocabulary.size + 31) // 32, dtype=np.int32)
        self._engine_mask: NDArray[np.bool_] | None = None
        self._no_eos: NDArray[np.bool_] | None = None
        self.end_marker = reasoning_markers[1] if reasoning_markers else ""
        self._start_marker = reasoning_markers[0] if reasoning_markers else ""
        self._marker_ids: list[int] = []
        self._matched = 0
        self._tail = ""
        self._detok: Any = None
        if forced or reasoning_markers is None:
            self.state = "done" if self._free else "active"
        elif in_reasoning:
            self._enter_reasoning(vocabulary)
        elif self._free:  # only a budget to keep: watch the text for the start marker
            self.state = "watching"
            self._detok = make_detokenizer(vocabulary.tokenizer)
        else:
            self.state = "opening"
            tokenizer = vocabulary.tokenizer
            self._marker_ids = list(tokenizer.encode(reasoning_markers[0], add_special_tokens=False))
            self._detok = make_detokenizer(tokenizer)
            if not self._marker_ids:  # a marker the tokenizer cannot write cannot open reasoning
                self.state = "active"

    def _enter_reasoning(self, vocabulary: Vocabulary | None = None) -> None:
        self.state = "reasoning"
        if self._detok is None and vocabulary is not None:
            self._detok = make_detokenizer(vocabulary.tokenizer)

    def _watch(self, token: int) -> None:
        """No constraint, only a budget: reasoning starts where the start marker is written;
        text that cannot begin it ends the watch."""
        self._tail += self._detok.step(token)
        start = self._start_marker
        stripped = self._tail.lstrip()
        if stripped.startswith(start):
            self._enter_reasoning()
            rest = stripped[len(start):]
            self._tail = ""
            if self.end_marker in rest:
                self._reasoning_closed()
        elif stripped and not start.startswith(stripped):
            self.state = "done"

    def _reasoning_closed(self) -> None:
        """The reasoning ended: the constraint starts (a free matcher has nothing left to do)."""
        self.state = "done" if self._free else "active"

    @property
    def active(self) -> bool:
        """True once the output is constrained (after any reasoning)."""
        return self.state == "active"

    def _compute_engine_mask(self) -> NDArray[np.bool_]:
        import numpy as np

        self.matcher.fill_bitmask(self._words)
        bits = np.unpackbits(self._words.view(np.uint8), bitorder="little")[: self.vocab_size]
        mask: NDArray[np.bool_] = bits.view(np.bool_)
        return mask

    def mask(self) -> NDArray[np.bool_] | None:
        """The tokens allowed next (bool row of ``vocab_size``; do not modify it), or None
        when nothing is constrained. While reasoning, everything but EOS is allowed.

        Raises ConstraintError when no token is allowed (the constraint is unsatisfiable).
        """
        state = self.state
        if state == "done" or state == "watching":
            return None
        if state == "reasoning" and self._end_ids and self._budget is not None \
                and self._spent >= self._budget:
            import numpy as np

            only = np.zeros(self.vocab_size, dtype=np.bool_)  # the budget is spent: close it
            only[self._end_ids[self._closing]] = True
            return only
        if state == "reasoning":  # free text, but the answer must still come: no end here
            if self._no_eos is None:
                import numpy as np

                self._no_eos = np.ones(self.vocab_size, dtype=np.bool_)
                self._no_eos[self._eos_list] = False
            return self._no_eos
        if state == "opening" and self._matched:
            import numpy as np

            only = np.zeros(self.vocab_size, dtype=np.bool_)
            only[self._marker_ids[self._matched]] = True
            return only
        mask = self._compute_engine_mask()
        eos = self._eos_list
        if eos and mask[eos].any() and not self.matcher.is_accepting():
            mask[eos] = False  # an end only where the output is complete: never a silent stop
        if not mask.any():
            reason = self.matcher.error()
            raise ConstraintError("structured output is unsatisfiable: the constraint allows no "
                                  "next token" + (f" ({reason.splitlines()[0]})" if reason else ""))
        if state == "opening":
            self._engine_mask = mask
            mask = mask.copy()
            if self._marker_ids and self._marker_ids[0] < self.vocab_size:
                mask[self._marker_ids[0]] = True
        return mask

    def advance(self, token: int) -> None:
        """Feed the sampled token. An EOS token ends the constraint (``mask`` is None after it),
        so a pipelined backend may feed it before the core has seen it."""
        state = self.state
        if token in self.eos_token_ids or state == "done":
            self.state = "done"
            return
        if state == "watching":
            self._watch(token)
            return
        if state == "active":
            if not self.matcher.consume(token):
                reason = self.matcher.error() or "rejected by the grammar"
                raise ConstraintError(f"token {token} violates the structured-output constraint: {reason}")
            return
        if state == "reasoning":
            if self._budget is not None and self._end_ids and self._spent >= self._budget:
                if token != self._end_ids[self._closing]:
                    raise ConstraintError(f"token {token} is not the reasoning end marker the "
                                          "spent reasoning budget forces")
                self._closing += 1
                if self._closing == len(self._end_ids):
                    self._reasoning_closed()
                return
            self._spent += 1
            self._tail = (self._tail + self._detok.step(token))[-4 * len(self.end_marker):]
            if self.end_marker in self._tail:
                self._reasoning_closed()
            return
        # opening: either the constraint takes this token, or it continues the start marker
        engine_mask = self._engine_mask
        if (not self._matched and engine_mask is not None and 0 <= token < len(engine_mask)
                and engine_mask[token]):
            self.state = "active"
            self.advance(token)
            return
        if self._matched < len(self._marker_ids) and token == self._marker_ids[self._matched]:
            self._detok.step(token)
            self._matched += 1
            if self._matched == len(self._marker_ids):
                self._enter_reasoning()
            return
        raise ConstraintError(f"token {token} is neither allowed by the constraint nor part of "
                              "the reasoning start marker")


# -- building one for a generation ------------------------------------------------------
_vocabularies: weakref.WeakKeyDictionary[Any, Vocabulary] = weakref.WeakKeyDictionary()
_vocab_lock = threading.Lock()


def vocabulary_for(backend_model: BackendModel) -> Vocabulary:
    """The (cached) vocabulary of a loaded model."""
    with _vocab_lock:
        found = _vocabularies.get(backend_model)
        if found is None:
            tokenizer = backend_model.tokenizer
            size = backend_model.vocab_size
            if not isinstance(size, int) or size <= 0:
                raise ValueError(f"backend {backend_model.info.backend!r} does not tell its vocabulary "
                                 "size (BackendModel.vocab_size), which constraints need")
            found = Vocabulary(
                tokenizer=tokenizer, size=size, eos_token_ids=frozenset(tokenizer.eos_token_ids),
                special_token_ids=frozenset(backend_model.special_token_ids),
            )
            _vocabularies[backend_model] = found
        return found


def pick_engine(context: GenerationContext, params: GenerationParameters) -> ConstraintEngine:
    """The engine named in the parameters, else ``llguidance``, else the only one registered."""
    registry = context.plugin_system.constraint_engines
    name = params.constraint_engine
    if name is None:
        names = registry.names()
        if DEFAULT_ENGINE in names or len(names) != 1:
            if DEFAULT_ENGINE not in names and not names:
                raise ValueError("structured output needs a constraint engine: "
                                 "pip install 'lmstream[structured]' (llguidance)")
            name = DEFAULT_ENGINE
        else:
            name = names[0]
    engine: ConstraintEngine = registry.get(name)
    return engine


def build_constraint(context: GenerationContext, params: GenerationParameters, lm_input: LMInput, *,
                     tool_format: str | None, reasoning_markers: tuple[str, str] | None,
                     in_reasoning: bool, reasoning_budget: int | None) -> Constraint | None:
    """The constraint for one generation, or None; raises on an invalid spec or a backend
    that cannot mask logits (never a silent fallback to unconstrained output). The tool-call
    format and the reasoning settings come decided (``api._decisions``)."""
    spec = constraint_spec_for(context, params, lm_input, tool_format)
    budget_only = spec is None and reasoning_budget is not None and reasoning_markers is not None
    if spec is None and not budget_only:
        return None
    backend_model = context.backend_model
    if not backend_model.supports_constraints:
        what = "reasoning_budget" if budget_only else "response_format / tool_choice"
        raise ValueError(f"backend {context.info.backend!r} cannot mask logits, so it cannot enforce "
                         f"{what}; use a backend that supports constraints")
    vocabulary = vocabulary_for(backend_model)
    if spec is None:
        matcher: TokenMatcher = FreeMatcher()
    else:
        engine = pick_engine(context, params)
        try:
            matcher = engine.matcher(spec, vocabulary)
        except ValueError:
            if spec.kind != "tool_call" or spec.schema is None:
                raise
            # no call grammar for this format: the answer's schema alone, as before
            matcher = engine.matcher(ConstraintSpec("json_schema", schema=spec.schema), vocabulary)
    return Constraint(matcher, vocabulary, reasoning_markers=reasoning_markers,
                      in_reasoning=in_reasoning, forced=params.constrain_reasoning and not budget_only,
                      reasoning_budget=reasoning_budget)
