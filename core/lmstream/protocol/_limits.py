"""``StructuredLimits``: the named bounds on one untrusted schema, regex or grammar."""

from __future__ import annotations

from pydantic import ConfigDict, Field
from pydantic.dataclasses import dataclass


@dataclass(frozen=True, config=ConfigDict(strict=True))
class StructuredLimits:
    """Limits on one untrusted schema, regex or grammar (each a named option, a positive int:
    ``True`` or ``1.5`` is refused naming it; defaults are generous for real use: a
    500-property schema or a 1,000-rule grammar passes)."""

    max_bytes: int = Field(default=1 << 20, ge=1)
    """Size of one schema (its JSON text, approximately), regex or grammar (UTF-8 bytes)."""
    max_depth: int = Field(default=64, ge=1)
    """Nesting of one schema document (objects and lists), or of groups in a grammar / regex."""
    max_subschemas: int = Field(default=20_000, ge=1)
    """Subschemas in one schema (every object reached through schema keywords)."""
    max_properties: int = Field(default=2_000, ge=1)
    """Entries of one ``properties`` / ``patternProperties`` / ``$defs`` object."""
    max_alternatives: int = Field(default=500, ge=1)
    """Members of one ``anyOf`` / ``oneOf`` / ``allOf`` / ``prefixItems`` list."""
    max_enum_values: int = Field(default=5_000, ge=1)
    """Values of one ``enum``."""
    max_ref_depth: int = Field(default=512, ge=1)
    """Subschemas along the longest path through nesting and ``$ref`` (a recursive cycle
    counts once, at its full size): the depth an engine recurses to compile the schema."""
    max_grammar_rules: int = Field(default=2_000, ge=1)
    """Rules and terminals defined in one Lark grammar."""

