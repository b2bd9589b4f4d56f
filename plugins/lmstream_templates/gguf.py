"""Read the key/value metadata of a GGUF file without loading its tensors.

A thin front of lmstream's one hardened GGUF reader (``lmstream.backend.read_gguf_header``):
only the header is parsed, bounded by the file's size, so reading a multi-gigabyte model's chat
template costs milliseconds and a malformed file is a clear ``GGUFError``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from lmstream import GGUFFormatError
from lmstream.backend import GGUF_MAGIC, read_gguf_header

GGUFError = GGUFFormatError
"""The file is not a GGUF file this reader understands (a ValueError and a ModelLoadError)."""

__all__ = ["GGUF_MAGIC", "GGUFError", "read_gguf_metadata"]


def read_gguf_metadata(path: str | Path, *, prefix: str = "") -> dict[str, Any]:
    """The metadata entries of the GGUF file at ``path`` whose keys start with ``prefix``."""
    return read_gguf_header(path, keep=lambda key: key.startswith(prefix), tensors=False).metadata
