"""The ``llguidance`` constraint engine: JSON schema, regex and Lark grammars compiled by
llguidance (Rust); token masks are written straight into the caller's bitmask.

The llguidance tokenizer is built once per model vocabulary (about a second for a 50k
vocabulary) and cached; grammars are validated and compiled when the stream is created, on a
large-stack thread under ``EngineLimits`` (``compiling``), so an invalid, too complex or
unsatisfiable schema, regex or grammar raises ValueError with llguidance's message. While
generating, a mask that hits a limit ends only its own stream (``ConstraintError``).
"""

from __future__ import annotations

import copy
import json
import threading
import time
import weakref
from typing import Any

from lmstream import ToolSpec
from lmstream.plugin import ConstraintSpec, Vocabulary

from .compiling import GrammarCompiler, explain
from .limits import EngineLimits
from .schemaprep import bounded_numbers, self_contained
from .toolgrammars import answer_or_call, tool_call_grammar

JSON_OPTIONS = {"whitespace_flexible": False, "item_separator": ", ", "key_separator": ": "}
"""JSON as ``json.dumps`` writes it (``{"a": 1, "b": 2}``): no runs of whitespace a small
model could loop in."""


def _require_llguidance() -> Any:
    try:
        import llguidance
    except ImportError as exc:  # the extra is missing
        raise ValueError("the llguidance constraint engine needs: pip install 'lmstream[structured]'"
                         ) from exc
    return llguidance


class _ByteVocab:
    """A vocabulary given by ``token_bytes`` (byte-level tokenizers, the scripted backend) in
    the shape ``llguidance.TokenizerWrapper`` reads."""

    def __init__(self, vocabulary: Vocabulary) -> None:
        tokenizer = vocabulary.tokenizer
        self.tokens = [tokenizer.token_bytes(i) for i in range(vocabulary.size)]
        self.eos_token_id = min(vocabulary.eos_token_ids)
        self.bos_token_id = None
        self.special_token_ids = sorted(vocabulary.special_token_ids | vocabulary.eos_token_ids)
        self._tokenizer = tokenizer

    def __call__(self, text: str) -> list[int]:
        return list(self._tokenizer.encode(text, add_special_tokens=False))


def build_lltokenizer(vocabulary: Vocabulary) -> Any:
    """llguidance's tokenizer for a vocabulary (``backend_tokenizer`` or ``token_bytes``)."""
    llg = _require_llguidance()
    tokenizer = vocabulary.tokenizer
    eos = sorted(vocabulary.eos_token_ids)
    backend = getattr(tokenizer, "backend_tokenizer", None)
    if backend is not None:
        backend = copy.copy(backend)
        backend.no_padding()
        backend.no_truncation()
        return llg.LLTokenizer(backend.to_str(), n_vocab=vocabulary.size, eos_token=eos)
    if hasattr(tokenizer, "token_bytes"):
        return llg.LLTokenizer(llg.TokenizerWrapper(_ByteVocab(vocabulary)), n_vocab=vocabulary.size,
                               eos_token=eos)
    raise ValueError(f"llguidance needs the tokens' bytes: {type(tokenizer).__name__} has neither "
                     "backend_tokenizer (tokenizers) nor token_bytes")


class LLGuidanceMatcher:
    """One generation's llguidance matcher (``lmstream.plugin.TokenMatcher``)."""

    __slots__ = ("_budget", "_error", "_first", "_limits", "_matcher")

    def __init__(self, matcher: Any, first_mask: bytes | None = None,
                 limits: EngineLimits | None = None) -> None:
        self._matcher = matcher
        self._first = first_mask
        self._limits = limits or EngineLimits()
        self._budget = self._limits.max_mask_seconds
        self._error: str | None = None

    def fill_bitmask(self, words: Any) -> None:
        """Compute the next-token mask straight into ``words`` (int32, contiguous). A mask
        that took more than ``max_mask_seconds`` of this thread's CPU is all zeros, and the
        matcher is in error from then on (its stream ends; the others are not slowed again)."""
        first, self._first = self._first, None
        if self._error is not None:
            words.fill(0)
            return
        if first is not None and len(first) == words.nbytes:  # computed at creation
            words.view("uint8")[:] = memoryview(first)
            return
        started = time.thread_time()
        self._matcher.unsafe_compute_mask_ptr(words.ctypes.data, words.nbytes)
        spent = time.thread_time() - started
        if spent > self._budget:
            self._error = (f"one mask took {spent:.3f} s of CPU (limit EngineLimits.max_mask_seconds = "
                           f"{self._budget}); the grammar is too complex to follow")
            words.fill(0)

    def consume(self, token: int) -> bool:
        """Advance by one token; False when rejected (the matcher is then in error)."""
        return bool(self._matcher.consume_token(int(token)))

    def is_accepting(self) -> bool:
        """Whether the output so far is complete."""
        return bool(self._matcher.is_accepting())

    def error(self) -> str | None:
        """Why the matcher stopped (a limit, or llguidance's error), or None."""
        if self._error is not None:
            return self._error
        return explain(str(self._matcher.get_error()), self._limits) if self._matcher.is_error() else None


class LLGuidanceEngine:
    """Compiles ConstraintSpecs with llguidance (``lmstream.plugin.ConstraintEngine``)."""

    kinds = frozenset({"json_schema", "regex", "grammar", "tool_call"})

    def __init__(self, limits: EngineLimits | None = None) -> None:
        self.limits = limits or EngineLimits()
        self._tokenizers: weakref.WeakKeyDictionary[Vocabulary, Any] = weakref.WeakKeyDictionary()
        self._lock = threading.Lock()
        self._compiler: GrammarCompiler | None = None

    def _schema(self, schema: Any) -> Any:
        """A schema with unbounded numbers bounded (``schemaprep.bounded_numbers``)."""
        limits = self.limits
        return bounded_numbers(schema, limits.json_integer_bound, limits.json_fraction_digits)

    def _tool(self, tool: ToolSpec, index: int) -> ToolSpec:
        """A tool whose parameters have bounded numbers and refs that survive embedding."""
        parameters = self_contained(self._schema(tool.parameters), f"urn:lmstream:tool:{index}")
        return tool.model_copy(update={"parameters": parameters})

    def tokenizer(self, vocabulary: Vocabulary) -> Any:
        """The cached llguidance tokenizer of a vocabulary."""
        with self._lock:
            found = self._tokenizers.get(vocabulary)
            if found is None:
                found = self._tokenizers[vocabulary] = build_lltokenizer(vocabulary)
            return found

    def grammar(self, spec: ConstraintSpec, vocabulary: Vocabulary) -> str:
        """The llguidance grammar text of a spec."""
        llg = _require_llguidance()
        if spec.kind == "json_schema":
            try:
                return str(llg.LLMatcher.grammar_from_json_schema(json.dumps(self._schema(spec.schema)),
                                                                  defaults=JSON_OPTIONS))
            except ValueError as exc:
                raise ValueError(f"invalid JSON schema: {exc}") from None
        if spec.kind == "regex":
            return str(llg.LLMatcher.grammar_from_regex(spec.pattern))
        if spec.kind == "grammar":
            return str(llg.LLMatcher.grammar_from_lark(spec.lark))
        if spec.kind == "tool_call":
            assert spec.tool_format is not None
            lltok = self.tokenizer(vocabulary)
            tools = tuple(self._tool(tool, i) for i, tool in enumerate(spec.tools))
            lark = tool_call_grammar(spec.tool_format, tools, vocabulary.tokenizer.encode,
                                     lltok.is_special_token)
            if spec.schema is not None:
                lark = answer_or_call(lark, self._schema(spec.schema))
            return str(llg.LLMatcher.grammar_from_lark(lark))
        raise ValueError(f"the llguidance engine does not support {spec.kind!r} constraints")

    def matcher(self, spec: ConstraintSpec, vocabulary: Vocabulary) -> LLGuidanceMatcher:
        """A fresh matcher for one generation; ValueError with llguidance's message if invalid."""
        llg = _require_llguidance()
        tokenizer = self.tokenizer(vocabulary)
        grammar = self.grammar(spec, vocabulary)
        what = {"json_schema": "JSON schema", "regex": "regex", "grammar": "Lark grammar",
                "tool_call": "tool-call grammar"}[spec.kind]
        with self._lock:
            if self._compiler is None:
                self._compiler = GrammarCompiler(llg, self.limits)
            compiler = self._compiler
        matcher, first = compiler.compile(tokenizer, grammar, what)
        return LLGuidanceMatcher(matcher, first, self.limits)
