"""Custom tools' grammars: does a call's input parse under its tool's Lark / regex grammar?

How a custom tool's grammar is honoured (documented in docs/server.md):

- **forced** (``tool_choice`` names the custom tool, or ``required`` with it as the only tool):
  the whole output is decoded under the grammar (the core's ``response_format`` of type
  ``grammar`` / ``regex``) and returned as the call's input: it parses by construction.
- **auto**: the model sees the tool as a function with one string parameter ``input`` (whose
  description carries the grammar) and may call it or not. A call's input is checked here
  against the grammar; when it does not parse, the input is generated again under the
  grammar (the forced path, from the same conversation), so an input that does not parse is
  never returned. Without a constraint engine (the ``structured`` extra) inputs cannot be
  checked and are returned as the model wrote them.

The check runs llguidance over a byte-level vocabulary (one token per byte), so it is
exactly the parser that constrains generation; it is CPU work and runs on the work pool.
"""

from __future__ import annotations

import functools
import importlib.util
import json
from typing import Any

from lmstream import ToolCall

from .responses_tools import Grammar

_EOS = 256


def engine_available() -> bool:
    """Whether llguidance (the ``structured`` extra) is installed."""
    return importlib.util.find_spec("llguidance") is not None


class _ByteVocabulary:
    """256 byte tokens and an end token, in the shape ``llguidance.TokenizerWrapper`` reads."""

    def __init__(self) -> None:
        self.tokens = [bytes([i]) for i in range(256)] + [b"<|end|>"]
        self.eos_token_id = _EOS
        self.bos_token_id = None
        self.special_token_ids = [_EOS]

    def __call__(self, text: str) -> list[int]:
        return list(text.encode("utf-8"))


@functools.lru_cache(maxsize=1)
def _byte_tokenizer() -> Any:
    import llguidance

    return llguidance.LLTokenizer(llguidance.TokenizerWrapper(_ByteVocabulary()), n_vocab=_EOS + 1,
                                  eos_token=[_EOS])


def grammar_error(grammar: Grammar) -> str | None:
    """llguidance's error for an invalid grammar; None when it compiles (or cannot be checked).
    Cached: agents send the same tool grammars with every request."""
    if not engine_available():
        return None
    return _grammar_error(grammar)


@functools.lru_cache(maxsize=64)
def _grammar_error(grammar: Grammar) -> str | None:
    try:
        matcher = _matcher(grammar)
    except (ValueError, TypeError, RuntimeError) as exc:
        return str(exc)
    return str(matcher.get_error()) if matcher.is_error() else None


def _matcher(grammar: Grammar) -> Any:
    import llguidance

    if grammar.syntax == "lark":
        compiled = llguidance.LLMatcher.grammar_from_lark(grammar.definition)
    else:
        compiled = llguidance.LLMatcher.grammar_from_regex(grammar.definition)
    return llguidance.LLMatcher(_byte_tokenizer(), compiled, log_level=0)


def grammar_accepts(grammar: Grammar, text: str) -> bool | None:
    """Whether ``text`` parses completely under ``grammar``; None without an engine.

    An invalid grammar accepts nothing (False): the forced path then reports its error.
    """
    if not engine_available():
        return None
    try:
        matcher = _matcher(grammar)
    except (ValueError, TypeError, RuntimeError):
        return False
    if matcher.is_error():
        return False
    data = list(text.encode("utf-8"))
    consumed = matcher.try_consume_tokens(data)
    return bool(consumed == len(data) and not matcher.is_error() and matcher.is_accepting())


def call_input(call: ToolCall) -> str:
    """The free-form input of a custom tool's call: ``arguments["input"]`` as the tool was shown
    to the model, else the arguments as JSON text (a model that ignored the declared shape)."""
    arguments = call.arguments
    if set(arguments) == {"input"} and isinstance(arguments["input"], str):
        return arguments["input"]
    return json.dumps(arguments, ensure_ascii=False)
