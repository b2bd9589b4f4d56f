"""Built-in streaming tool-call parsers for lmstream, one module per format family.

The shared machinery is public so third-party formats can reuse it: describe the markers with
``Rule``s, parse a complete call body, and ``Format(name, rules).parser`` is the factory to
register (see docs/tool-calls.md).
"""

from __future__ import annotations

from .base import Format, StreamingParser
from .calls import (
    INCOMPLETE,
    INVALID_ARGUMENTS,
    MALFORMED,
    REASONS,
    UNDECLARED_TOOL,
    BadCall,
    CallSyntaxError,
    ParsedCall,
    inner,
    json_call,
    json_calls,
    loads,
)
from .matching import IDENT, WS, Pattern
from .rules import Rule
from .scanning import (
    BACKSLASH,
    JSON_QUOTES,
    PYTHON_QUOTES,
    Balanced,
    Delimited,
    Immediate,
)
from .tools import ToolBox, coerce_value

__all__ = [
    "BACKSLASH",
    "IDENT",
    "INCOMPLETE",
    "INVALID_ARGUMENTS",
    "JSON_QUOTES",
    "MALFORMED",
    "PYTHON_QUOTES",
    "REASONS",
    "UNDECLARED_TOOL",
    "WS",
    "BadCall",
    "Balanced",
    "CallSyntaxError",
    "Delimited",
    "Format",
    "Immediate",
    "ParsedCall",
    "Pattern",
    "Rule",
    "StreamingParser",
    "ToolBox",
    "coerce_value",
    "inner",
    "json_call",
    "json_calls",
    "loads",
]
