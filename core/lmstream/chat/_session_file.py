"""Reading a saved chat session as untrusted data: bounded, fully validated, one clear error.

A session file may come from anywhere, so ``read_session_file`` checks all of it before a
``ChatSession`` is built: its size, UTF-8, JSON nesting depth, no lone surrogates, every field
against the ``SessionFile`` pydantic model, and the chat template it names. A template there may
only be a registered template name (or one of the model's named templates) or inline Jinja text,
never a file path, so a crafted file cannot render a local file into the prompt. Every problem
is a ``ValueError`` naming the file and the problem.
"""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, StrictInt, ValidationError

SESSION_FORMAT = "lmstream.chat_session"
SESSION_VERSION = 1
MAX_SESSION_BYTES = 64 * 1024 * 1024
"""The largest session file ``ChatSession.load`` reads."""
MAX_SESSION_DEPTH = 64
"""How deeply JSON arrays and objects may nest in a session file."""
MAX_TOOL_ROUNDS = 1000
"""The largest ``max_tool_rounds`` a session file may ask for."""

_JINJA_MARKERS = ("{{", "{%", "{#")


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class SavedModel(_Strict):
    """Which model the cached token ids belong to."""

    name: str | None = None
    backend: str | None = None


class SavedCache(_Strict):
    """The token ids the prompt cache held (re-prefilled on load)."""

    tokens: list[StrictInt] = Field(default_factory=list)


class SessionFile(_Strict):
    """The whole saved-session document as ``ChatSession.save`` writes it."""

    format: Literal["lmstream.chat_session"]
    version: Literal[1]
    model: SavedModel = Field(default_factory=SavedModel)
    instructions: str | None = None
    max_tool_rounds: StrictInt = Field(8, ge=0, le=MAX_TOOL_ROUNDS)
    parameters: dict[str, Any] | None = None
    template_options: dict[str, Any] | None = None
    tools: list[dict[str, Any]] | None = None
    messages: list[dict[str, Any]] = Field(default_factory=list)
    cache: SavedCache = Field(default_factory=SavedCache)


def _check_tree(value: Any) -> str | None:
    """The first structural problem of decoded JSON (too deep, lone surrogate), or None."""
    stack: list[tuple[Any, int]] = [(value, 0)]
    while stack:
        node, depth = stack.pop()
        if depth > MAX_SESSION_DEPTH:
            return f"JSON nests deeper than {MAX_SESSION_DEPTH} levels"
        if isinstance(node, str):
            if _has_surrogate(node):
                return "a string holds a lone surrogate (not valid Unicode)"
        elif isinstance(node, dict):
            for key, child in node.items():
                stack.append((key, depth + 1))
                stack.append((child, depth + 1))
        elif isinstance(node, list):
            stack.extend((child, depth + 1) for child in node)
    return None


def _has_surrogate(text: str) -> bool:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return True
    return False


def check_template_spec(spec: Any, registered: set[str], model_templates: Any) -> str | None:
    """Why a session file's ``template_options.template`` is refused, or None when allowed:
    a registered name, one of the model's named templates, or inline Jinja text that is not
    also the name of an existing file. Never a file path."""
    if spec is None:
        return None
    if not isinstance(spec, str) or not spec:
        return "template_options.template must be a non-empty string"
    if spec in registered or (isinstance(model_templates, Mapping) and spec in model_templates):
        return None
    if any(marker in spec for marker in _JINJA_MARKERS):
        try:
            is_file = "\n" not in spec and len(spec) <= 4096 and Path(spec).expanduser().exists()
        except (OSError, ValueError):
            is_file = False
        if not is_file:
            return None
    return (f"template_options.template {spec[:80]!r} is not a registered template name or inline "
            "Jinja text; a session file may not name a template file")


def saved_template_options(options: dict[str, Any], registered: set[str],
                           model_templates: Any) -> dict[str, Any]:
    """Template options as ``save`` writes them: a template given as a file path is stored as
    its text, since ``load`` never reads a path from a session file."""
    spec = options.get("template")
    if not isinstance(spec, str) or check_template_spec(spec, registered, model_templates) is None:
        return options
    try:
        text = Path(spec).expanduser().read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError, ValueError):
        return options  # load will refuse it with a clear error
    return {**options, "template": text}


def read_session_file(path: Path, registered: set[str], model_templates: Any) -> SessionFile:
    """Read and validate a session file; any problem is a ValueError naming the file."""
    import json

    def fail(problem: str) -> ValueError:
        return ValueError(f"cannot read chat session file {str(path)!r}: {problem}")

    try:
        with path.open("rb") as handle:
            raw = handle.read(MAX_SESSION_BYTES + 1)
    except OSError as exc:
        raise fail(f"cannot read it: {exc.strerror or exc}") from exc
    if len(raw) > MAX_SESSION_BYTES:
        raise fail(f"larger than {MAX_SESSION_BYTES} bytes")
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise fail(f"not valid UTF-8 (byte {exc.start})") from None
    try:
        data = json.loads(text)
    except RecursionError:
        raise fail(f"JSON nests deeper than {MAX_SESSION_DEPTH} levels") from None
    except ValueError as exc:
        raise fail(f"not valid JSON: {exc}") from None
    if not isinstance(data, dict) or data.get("format") != SESSION_FORMAT:
        raise fail("not a saved lmstream chat session (no format "
                   f"{SESSION_FORMAT!r})")
    if data.get("version") != SESSION_VERSION:
        raise fail(f"session format version {data.get('version')!r}; this lmstream reads "
                   f"version {SESSION_VERSION}")
    problem = _check_tree(data)
    if problem is not None:
        raise fail(problem)
    try:
        session = SessionFile.model_validate(data)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(part) for part in first["loc"]) or "(document)"
        if first["loc"][:2] == ("cache", "tokens"):
            raise fail(f"cache.tokens must be a list of token ids ({where}: {first['msg']})") \
                from None
        raise fail(f"{where}: {first['msg']}") from None
    options = session.template_options or {}
    refused = check_template_spec(options.get("template"), registered, model_templates)
    if refused is not None:
        raise fail(refused)
    for index, token in enumerate(session.cache.tokens):
        if token < 0:
            raise fail(f"cache.tokens must be a list of token ids (cache.tokens.{index} is "
                       f"negative: {token})")
    return session


def write_session_file(target: Path, data: Mapping[str, Any]) -> None:
    """Write ``data`` as JSON atomically: a temporary file beside ``target``, then a rename, so
    a crash or a full disk never leaves a half-written session where a good one was."""
    fd, temporary = tempfile.mkstemp(prefix=f".{target.name}.", dir=target.parent or ".")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            json.dump(data, handle, ensure_ascii=False)
        os.replace(temporary, target)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise
