"""The ``jsonl`` observer: one JSON record per generation appended to a file.

Safe with concurrent generations: each record is serialized first, then written with a single
``write`` of one line under a lock shared by every observer on the same file, and flushed. The
file is opened in append mode for each record, so rotating it between generations is fine.
"""

from __future__ import annotations

import json
import os
import threading
from pathlib import Path

from lmstream import GenerationRecord, Info, Observer

from .records import generation_record

PATH_ENV = "LMSTREAM_JSONL_PATH"
DEFAULT_PATH = "lmstream-generations.jsonl"

LINE_BREAKS = {"\x85": "\\u0085", "\u2028": "\\u2028", "\u2029": "\\u2029"}
"""Characters ``str.splitlines`` breaks on that JSON leaves unescaped: escaped in records."""

_locks: dict[Path, threading.Lock] = {}
_locks_guard = threading.Lock()


def _lock_for(path: Path) -> threading.Lock:
    with _locks_guard:
        lock = _locks.get(path)
        if lock is None:
            lock = _locks[path] = threading.Lock()
        return lock


def default_path() -> Path:
    """``$LMSTREAM_JSONL_PATH``, else ``lmstream-generations.jsonl`` in the working directory."""
    return Path(os.environ.get(PATH_ENV) or DEFAULT_PATH)


class JsonlObserver(Observer):
    """Appends one JSON line per finished generation to ``path``."""

    def __init__(self, path: str | os.PathLike[str] | None = None, *,
                 include_parameters: bool = True) -> None:
        resolved = Path(path) if path is not None else default_path()
        if resolved.is_dir():
            raise IsADirectoryError(f"jsonl observer path {str(resolved)!r} is a directory, not a file")
        if not resolved.absolute().parent.is_dir():
            raise FileNotFoundError(f"jsonl observer path {str(resolved)!r}: its folder does not exist")
        self.path = resolved.absolute()
        self.include_parameters = include_parameters
        self._lock = _lock_for(self.path)

    def on_end(self, generation: GenerationRecord, info: Info) -> None:
        """Append the generation's record as one line."""
        record = generation_record(generation, info, include_parameters=self.include_parameters)
        line = json.dumps(record, ensure_ascii=False, separators=(",", ":"), default=str)
        for char, escape in LINE_BREAKS.items():
            line = line.replace(char, escape)
        line += "\n"
        with self._lock, open(self.path, "a", encoding="utf-8") as file:
            file.write(line)
            file.flush()
