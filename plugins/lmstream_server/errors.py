"""API errors: one exception type, rendered OpenAI-shaped or Anthropic-shaped.

OpenAI: ``{"error": {"message", "type", "param", "code"}}``. Anthropic:
``{"type": "error", "error": {"type", "message"}}``. Every validation error names the field.
"""

from __future__ import annotations

import re
from typing import Any

from pydantic import ValidationError

ANTHROPIC_TYPES = {400: "invalid_request_error", 401: "authentication_error", 403: "permission_error",
                   404: "not_found_error", 413: "request_too_large", 429: "rate_limit_error",
                   500: "api_error", 503: "overloaded_error", 529: "overloaded_error"}
"""HTTP status -> Anthropic error type."""

OPENAI_TYPES = {400: "invalid_request_error", 401: "authentication_error", 404: "not_found_error",
                413: "invalid_request_error", 503: "server_error", 500: "server_error"}
"""HTTP status -> OpenAI error type (``invalid_request_error`` for most client errors)."""


class APIError(Exception):
    """An error answer: HTTP status, message, the offending parameter and a machine code."""

    def __init__(self, status: int, message: str, *, param: str | None = None, code: str | None = None,
                 type: str | None = None, headers: dict[str, str] | None = None,
                 details: dict[str, Any] | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.param = param
        self.code = code
        self.type = type or OPENAI_TYPES.get(status, "invalid_request_error" if status < 500 else "server_error")
        self.headers = headers or {}
        self.details = details  # Anthropic's machine-readable ``error.details`` (SDKs branch on it)

    def openai_body(self) -> dict[str, Any]:
        """The OpenAI error object."""
        return {"error": {"message": self.message, "type": self.type, "param": self.param, "code": self.code}}

    def anthropic_body(self) -> dict[str, Any]:
        """The Anthropic error object."""
        kind = ANTHROPIC_TYPES.get(self.status, "api_error" if self.status >= 500 else "invalid_request_error")
        return {"type": "error", "error": {"type": kind, "message": self.message,
                                           **({"details": self.details} if self.details else {})}}


def bad_request(message: str, param: str | None = None, code: str | None = None) -> APIError:
    """A 400 naming ``param``."""
    return APIError(400, message, param=param, code=code)


def unsupported(param: str, why: str = "") -> APIError:
    """A 400 for a parameter this server does not support (never silently ignored)."""
    detail = f": {why}" if why else ""
    return APIError(400, f"unsupported parameter {param!r}{detail}", param=param, code="unsupported_parameter")


UNION_TAGS = frozenset({"str", "int", "float", "bool", "bytes", "none", "any", "dict", "list", "literal",
                        "function-after", "function-before", "function-wrap", "function-plain"})
"""Names pydantic puts in an error's location for the member of a union that failed."""
MODEL_TAG = re.compile(r"[A-Z][A-Za-z0-9]*")
"""A model class name in a location: the member of a union of models that failed."""


def _is_union_tag(part: Any) -> bool:
    """Whether a location part names a union member (``list[str]``, ``str``, ``TextBlock``), not a field."""
    return isinstance(part, str) and ("[" in part or part in UNION_TAGS or MODEL_TAG.fullmatch(part) is not None)


def field_path(loc: tuple[Any, ...], where: str = "") -> str:
    """The field a pydantic error location names, as the client wrote it, under ``where``
    (``messages[2].content``, ``tools[0].input_schema``): union-member tags left out. The one
    place a request model's error location becomes the field an error names."""
    text = where
    for part in loc:
        if isinstance(part, int):
            text += f"[{part}]"
        elif part == "":  # an empty key: shown as JSON writes it, so the error still names it
            text += '[""]'
        elif not _is_union_tag(part):
            text += f".{part}" if text else str(part)
    return text


def from_validation(exc: ValidationError, prefix: str = "") -> APIError:
    """A 400 from a pydantic error: an unknown field is 'unsupported', others name the field
    (under ``prefix``, e.g. ``messages[3].``)."""
    where = prefix.rstrip(".")
    first = exc.errors()[0]
    param = field_path(tuple(first.get("loc", ())), where) or None
    if first.get("type") == "extra_forbidden":
        return unsupported(param or "?", "this server does not support it")
    details = "; ".join(f"{field_path(tuple(e.get('loc', ()))) or 'body'}: {e.get('msg', '')}"
                        for e in exc.errors()[:5])
    return APIError(400, f"invalid request: {details}", param=param, code="invalid_value")
