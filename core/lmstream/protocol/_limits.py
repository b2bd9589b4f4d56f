"""``StructuredLimits``: the named bounds on one untrusted schema, regex or grammar."""

from __future__ import annotations

from dataclasses import dataclass, fields


@dataclass(frozen=True)
class StructuredLimits:
    """Limits on one untrusted schema, regex or grammar (each a named option; defaults are
    generous for real use: a 500-property schema or a 1,000-rule grammar passes)."""

    max_bytes: int = 1 << 20
    """Size of one schema (its JSON text, approximately), regex or grammar (UTF-8 bytes)."""
    max_depth: int = 64
    """Nesting of one schema document (objects and lists), or of groups in a grammar / regex."""
    max_subschemas: int = 20_000
    """Subschemas in one schema (every object reached through schema keywords)."""
    max_properties: int = 2_000
    """Entries of one ``properties`` / ``patternProperties`` / ``$defs`` object."""
    max_alternatives: int = 500
    """Members of one ``anyOf`` / ``oneOf`` / ``allOf`` / ``prefixItems`` list."""
    max_enum_values: int = 5_000
    """Values of one ``enum``."""
    max_ref_depth: int = 512
    """Subschemas along the longest path through nesting and ``$ref`` (a recursive cycle
    counts once, at its full size): the depth an engine recurses to compile the schema."""
    max_grammar_rules: int = 2_000
    """Rules and terminals defined in one Lark grammar."""

    def __post_init__(self) -> None:
        for item in fields(self):
            value = getattr(self, item.name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(f"StructuredLimits.{item.name} must be a positive integer, got {value!r}")
