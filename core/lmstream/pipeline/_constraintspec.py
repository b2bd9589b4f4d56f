"""What a generation's constraint enforces: its spec (response_format, a forced tool_choice,
or the generic tool-call format's lazy call constraint) and the free matcher that carries a
reasoning budget alone."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Protocol

from ..protocol import ConstraintSpec, constraint_spec
from ._toolturns import GENERIC_TOOL_FORMAT

if TYPE_CHECKING:
    import numpy as np
    from numpy.typing import NDArray

    from ..model import BackendModel, ModelInfo
    from ..protocol import GenerationParameters, LMInput


class SpecContext(Protocol):
    """What choosing a spec needs of a ``ModelContext``."""

    info: ModelInfo
    backend_model: BackendModel
    plugin_system: Any


class FreeMatcher:
    """A matcher that allows every token: carries a reasoning budget when nothing else is
    constrained."""

    def fill_bitmask(self, words: NDArray[np.int32]) -> None:
        """Every bit set."""
        words.fill(-1)

    def consume(self, token: int) -> bool:
        """Any token is fine."""
        return True

    def is_accepting(self) -> bool:
        """Any output is complete."""
        return True

    def error(self) -> str | None:
        """Never fails."""
        return None


def generic_grammar_name(*, optional: bool, parallel: bool) -> str:
    """The ``tool_format`` of a generic-format call constraint: ``generic`` (one call),
    ``+parallel`` (one or a list of several), ``+optional`` (plain text or the call(s))."""
    return GENERIC_TOOL_FORMAT + ("+optional" if optional else "") + ("+parallel" if parallel else "")


def parallel_grammar_name(tool_format: str) -> str:
    """The ``tool_format`` of a call constraint that allows one or more calls in a model's own
    format (``tool_choice: "required"`` with ``parallel_tool_calls=True``): ``<format>+parallel``."""
    return f"{tool_format}+parallel"


def constraint_spec_for(context: SpecContext, params: GenerationParameters, lm_input: LMInput,
          tool_format: str | None) -> ConstraintSpec | None:
    """The constraint's spec: response_format / a forced tool_choice (a JSON response_format
    with declared tools and tool_choice auto: the answer or a call), else the generic
    format's lazy call constraint (plain text or call(s)) where an engine and the backend
    can enforce it."""
    choice = params.tool_choice
    forced_format = tool_format
    named = isinstance(choice, dict)  # a named function: one call
    if tool_format == GENERIC_TOOL_FORMAT:
        forced_format = generic_grammar_name(optional=False,
                                             parallel=params.parallel_tool_calls is not False and not named)
    elif tool_format is not None and params.parallel_tool_calls is True and not named:
        # only when asked for: left unset, one call (small models repeat a call when allowed more)
        forced_format = parallel_grammar_name(tool_format)
    spec = constraint_spec(params.response_format, choice, lm_input.tools,
                           forced_format if choice else None)
    if (spec is not None and spec.kind == "json_schema" and lm_input.tools and choice in (None, "auto")
            and forced_format is not None):
        # a JSON answer or a call (the Agents SDK's output_type with tools): the engine may
        # refuse a format it has no call grammar for; build_constraint then keeps the schema
        return ConstraintSpec("tool_call", schema=spec.schema, tools=tuple(lm_input.tools),
                              tool_format=forced_format)
    if spec is not None or tool_format != GENERIC_TOOL_FORMAT or not lm_input.tools \
            or choice == "none":
        return spec
    if not context.backend_model.supports_constraints \
            or not context.plugin_system.constraint_engines.names():
        return None  # without an engine the generic format is still parsed, just not enforced
    return ConstraintSpec("tool_call", tools=tuple(lm_input.tools),
                          tool_format=generic_grammar_name(optional=True,
                                                           parallel=params.parallel_tool_calls is not False))
