"""``load(..., drafter=...)``: which speculative-decoding drafter a context uses, and its options.

``drafter`` is a registered name (``"prompt_lookup"``, ``"draft_model"``, a third party's), a
``Drafter`` object, or None (no speculation: the default). Load options prefixed ``draft_``
(``draft_max_tokens=8``, ``draft_model="small.gguf"``) go to the drafter's factory without the
prefix. Both are taken out of the load options before the backend sees them, and a bad name is
refused before the model loads.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from ..hooks import PluginSystem
from ..model import BackendModel, Drafter, DrafterFactory

DRAFT_PREFIX = "draft_"
"""Load options with this prefix belong to the drafter (passed without it)."""


@dataclass(frozen=True)
class DrafterChoice:
    """The drafter a ``load`` call asked for, resolved against the registry (model not loaded)."""

    name: str
    factory: DrafterFactory | None = None
    drafter: Drafter | None = None
    """A ready drafter object (``load(drafter=obj)``); then ``factory`` is None."""
    options: dict[str, Any] = field(default_factory=dict)

    def make(self, backend_model: BackendModel) -> Drafter:
        """The context's drafter (runs on the worker thread, after the model loaded)."""
        if self.drafter is not None:
            return self.drafter
        assert self.factory is not None
        drafter = self.factory(backend_model, **self.options)
        if not isinstance(drafter, Drafter):
            raise TypeError(f"drafter {self.name!r} returned {type(drafter).__name__}, "
                            "not an lmstream.model.Drafter")
        if not drafter.name:
            drafter.name = self.name
        return drafter


def pop_drafter(options: dict[str, Any], system: PluginSystem) -> DrafterChoice | None:
    """Take ``drafter`` and the ``draft_*`` options out of ``options``; None when no drafter.

    Raises (naming the option) for an unknown drafter name, a value of the wrong type, or
    ``draft_*`` options without a drafter name to give them to.
    """
    requested = options.pop("drafter", None)
    draft_options = {key[len(DRAFT_PREFIX):]: options.pop(key)
                     for key in [k for k in options if k.startswith(DRAFT_PREFIX)]}
    if requested is None:
        if draft_options:
            raise ValueError(f"{_names(draft_options)} need drafter=NAME (e.g. "
                             "drafter=\"prompt_lookup\"); without a drafter nothing speculates")
        return None
    if isinstance(requested, Drafter):
        if draft_options:
            raise ValueError(f"{_names(draft_options)} configure a registered drafter by name; "
                             "a Drafter object is used as it is")
        return DrafterChoice(requested.name or type(requested).__name__, drafter=requested)
    if not isinstance(requested, str) or not requested:
        raise TypeError("drafter must be a registered drafter name, an lmstream.model.Drafter "
                        f"or None, not {requested!r}")
    factory = system.drafters.get(requested)  # UnknownNameError lists the registered ones
    return DrafterChoice(requested, factory, options=draft_options)


def _names(draft_options: dict[str, Any]) -> str:
    return ", ".join(DRAFT_PREFIX + key for key in sorted(draft_options))
