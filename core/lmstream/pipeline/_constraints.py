"""The constraint slot: engines (plugins) compile a spec into a token matcher; ``Constraint``
wraps it for one generation and keeps reasoning free.

A backend that masks logits calls, each decode step, ``constraint.mask()`` (a numpy bool row
over the vocabulary, or None when nothing is constrained at this step) and, after sampling,
``constraint.advance(token)``. The mask is one vectorised row: a backend applies it with one
``where`` (no Python loop over the vocabulary).

Reasoning rule: unless ``constrain_reasoning`` forces it, a prompt that opened reasoning leaves
the model free until the reasoning end marker has been generated (free except that it may not
end there: the constrained answer must still come); otherwise the first token may open
reasoning (the start marker's own tokens are allowed beside the constraint's).
"""

from __future__ import annotations

import threading
import weakref
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

from ..errors import GenerationError
from ..protocol import ConstraintSpec, constraint_spec
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
    """The per-generation object a backend sees (``control.constraint`` /
    ``SequenceRequest.constraint``); not thread-safe (one sequence, one worker thread)."""

    __slots__ = (
        "_detok",
        "_engine_mask",
        "_eos_list",
        "_marker_ids",
        "_matched",
        "_no_eos",
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
                 forced: bool = False) -> None:
        import numpy as np

        self.matcher = matcher
        self.vocab_size = vocabulary.size
        self.eos_token_ids = vocabulary.eos_token_ids
        self._eos_list = sorted(t for t in vocabulary.eos_token_ids if t < vocabulary.size)
        self._words = np.zeros((vocabulary.size + 31) // 32, dtype=np.int32)
        self._engine_mask: NDArray[np.bool_] | None = None
        self._no_eos: NDArray[np.bool_] | None = None
        self.end_marker = reasoning_markers[1] if reasoning_markers else ""
        self._marker_ids: list[int] = []
        self._matched = 0
        self._tail = ""
        self._detok: Any = None
        if forced or reasoning_markers is None:
            self.state = "active"
        elif in_reasoning:
            self._enter_reasoning(vocabulary)
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
        if state == "done":
            return None
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
        if state == "active":
            if not self.matcher.consume(token):
                reason = self.matcher.error() or "rejected by the grammar"
                raise ConstraintError(f"token {token} violates the structured-output constraint: {reason}")
            return
        if state == "reasoning":
            self._tail = (self._tail + self._detok.step(token))[-4 * len(self.end_marker):]
            if self.end_marker in self._tail:
                self.state = "active"
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
                self.state = "reasoning"
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
            size = getattr(backend_model, "vocab_size", None) or getattr(tokenizer, "vocab_size", None)
            if not isinstance(size, int) or size <= 0:
                raise ValueError(f"backend {backend_model.info.backend!r} does not tell its vocabulary "
                                 "size (BackendModel.vocab_size), which constraints need")
            special = getattr(tokenizer, "special_ids", None)
            found = Vocabulary(
                tokenizer=tokenizer, size=size, eos_token_ids=frozenset(tokenizer.eos_token_ids),
                special_token_ids=frozenset(special.values()) if isinstance(special, dict) else frozenset(),
            )
            _vocabularies[backend_model] = found
        return found


def _tool_format(context: GenerationContext, params: GenerationParameters, lm_input: LMInput) -> str | None:
    """The tool-call format a required tool_choice must follow (as the parser is chosen)."""
    name = params.tool_parser or context.info.options.get("tool_parser")
    if name is None and lm_input.tools:
        name = context.plugin_system.resolve_tool_parser(context.info)
    return None if name == "none" else name


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


def build_constraint(context: GenerationContext, params: GenerationParameters,
                     lm_input: LMInput) -> Constraint | None:
    """The constraint for one generation, or None; raises on an invalid spec or a backend
    that cannot mask logits (never a silent fallback to unconstrained output)."""
    spec = constraint_spec(params.response_format, params.tool_choice, lm_input.tools,
                           _tool_format(context, params, lm_input) if params.tool_choice else None)
    if spec is None:
        return None
    backend_model = context.backend_model
    if not getattr(backend_model, "supports_constraints", False):
        raise ValueError(f"backend {context.info.backend!r} cannot mask logits, so it cannot enforce "
                         "response_format / tool_choice; use a backend that supports constraints")
    engine = pick_engine(context, params)
    vocabulary = vocabulary_for(backend_model)
    matcher = engine.matcher(spec, vocabulary)
    markers = params.reasoning_markers
    in_reasoning = bool(markers and (lm_input.starts_in_reasoning or
                                     (lm_input.text and lm_input.text.rstrip().endswith(markers[0]))))
    return Constraint(matcher, vocabulary, reasoning_markers=markers, in_reasoning=in_reasoning,
                      forced=params.constrain_reasoning)
