"""lmstream's built-in speculative-decoding drafters (``load(..., drafter=NAME)``).

``prompt_lookup`` proposes the continuation of the longest recent n-gram match in the prompt
and the output so far (no model: it pays off where the answer repeats its input).
"""

from __future__ import annotations

from .prompt_lookup import PromptLookupDrafter, PromptLookupState

__all__ = ["PromptLookupDrafter", "PromptLookupState"]
