"""``EngineLimits``: the llguidance engine's named resource limits (its ``LLParserLimits``
plus lmstream's own compile stack and per-mask CPU budget).

llguidance's defaults let one pathological grammar (an ambiguous Lark grammar whose Earley
rows grow with every token) spend about half a second of CPU per mask on a 49k vocabulary;
these defaults keep real schemas compiling (a 500-property open object needs about 2,000
items per row) while bounding a mask's work, and a mask that still exceeds
``max_mask_seconds`` of CPU ends its own stream with an error.
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from typing import Any


@dataclass(frozen=True)
class EngineLimits:
    """Resource limits of one ``LLGuidanceEngine`` (every field a named option)."""

    max_items_in_row: int = 2_500
    """Earley items in one parser row (llguidance default 2,000; a 500-property object with
    optional properties needs 2,007): the main bound on a mask's parser work."""
    step_max_items: int = 20_000
    """Earley items one mask step may create (llguidance default 50,000)."""
    step_lexer_fuel: int = 100_000
    """Lexer work in one mask step (llguidance default 200,000; about 14k per ms)."""
    initial_lexer_fuel: int = 1_000_000
    """Lexer work to build a grammar's lexer (llguidance default; about 50k per ms)."""
    max_lexer_states: int = 50_000
    """Lexer states one grammar may build, 1-2 kB each (llguidance default 250,000)."""
    max_grammar_size: int = 200_000
    """Symbols in a compiled grammar's productions (llguidance default 500,000)."""
    max_mask_seconds: float = 0.1
    """CPU seconds one mask may take (measured on the computing thread, so load on other
    threads does not count); a slower mask ends its stream with an error."""
    json_integer_bound: int = 2**53 - 1
    """The bound given to each unbounded side of a JSON-schema ``integer`` or ``number``
    (I-JSON, RFC 7493: integers within ±(2^53−1) interoperate; at most 16 digits)."""
    json_fraction_digits: int = 10
    """Digits after the point of a JSON-schema ``number`` without ``multipleOf`` (at most 10:
    llguidance refuses a finer ``multipleOf``)."""
    compile_stack_bytes: int = 256 << 20
    """Stack of the thread that compiles grammars (llguidance compiles recursively; 8 MiB,
    the usual default, overflowed on a 1,000-link ``$ref`` chain). Address space only:
    untouched pages cost no memory."""

    def __post_init__(self) -> None:
        for item in fields(self):
            value = getattr(self, item.name)
            if isinstance(value, bool) or not isinstance(value, (int, float)) or value <= 0:
                raise ValueError(f"EngineLimits.{item.name} must be a positive number, got {value!r}")
        if self.json_fraction_digits > 10:
            raise ValueError("EngineLimits.json_fraction_digits must be at most 10")

    def parser_limits(self, llguidance: Any) -> Any:
        """The ``llguidance.LLParserLimits`` of these limits (errors without parser dumps)."""
        return llguidance.LLParserLimits(
            max_items_in_row=self.max_items_in_row,
            step_max_items=self.step_max_items,
            step_lexer_fuel=self.step_lexer_fuel,
            initial_lexer_fuel=self.initial_lexer_fuel,
            max_lexer_states=self.max_lexer_states,
            max_grammar_size=self.max_grammar_size,
            verbose_errors=False,
        )
