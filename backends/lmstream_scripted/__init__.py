"""The scripted backend: a deterministic, model-free backend for tests, demos and users' suites.

``lmstream.load(backend="scripted", reply="Hello!")`` answers every prompt with ``reply``,
cut into tokens however you ask, through exactly the same pipeline as a real backend.
"""

from __future__ import annotations

from .model import ScriptedFailure, ScriptedModel, ScriptedOptions, load_scripted
from .tokenizer import ScriptedTokenizer

__all__ = ["ScriptedFailure", "ScriptedModel", "ScriptedOptions", "ScriptedTokenizer", "load_scripted"]
