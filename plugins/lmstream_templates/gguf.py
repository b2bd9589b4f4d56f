"""Read the key/value metadata of a GGUF file without loading its tensors.

Only the header is parsed (format spec: ggml's docs/gguf.md, versions 2 and 3); tensor data
is never touched, so reading a multi-gigabyte model's chat template costs milliseconds.
"""

from __future__ import annotations

import struct
from pathlib import Path
from typing import Any, BinaryIO

GGUF_MAGIC = b"GGUF"

# value type id -> struct format of a scalar of that type
_SCALARS = {
    0: "<B", 1: "<b", 2: "<H", 3: "<h", 4: "<I", 5: "<i",
    6: "<f", 7: "<?", 10: "<Q", 11: "<q", 12: "<d",
}
_STRING, _ARRAY = 8, 9


class GGUFError(ValueError):
    """The file is not a GGUF file this reader understands."""


def _read(f: BinaryIO, size: int) -> bytes:
    data = f.read(size)
    if len(data) != size:
        raise GGUFError("unexpected end of file in the GGUF header")
    return data


def _string(f: BinaryIO) -> str:
    (length,) = struct.unpack("<Q", _read(f, 8))
    return _read(f, length).decode("utf-8", errors="replace")


def _value(f: BinaryIO, kind: int, keep: bool) -> Any:
    """Read one value; with ``keep=False`` it is skipped cheaply and None returned."""
    if kind == _STRING:
        if keep:
            return _string(f)
        (length,) = struct.unpack("<Q", _read(f, 8))
        f.seek(length, 1)
        return None
    if kind == _ARRAY:
        (item_kind,) = struct.unpack("<I", _read(f, 4))
        (count,) = struct.unpack("<Q", _read(f, 8))
        if not keep and item_kind in _SCALARS:
            f.seek(struct.calcsize(_SCALARS[item_kind]) * count, 1)
            return None
        items = [_value(f, item_kind, keep) for _ in range(count)]
        return items if keep else None
    fmt = _SCALARS.get(kind)
    if fmt is None:
        raise GGUFError(f"unknown GGUF value type {kind}")
    (value,) = struct.unpack(fmt, _read(f, struct.calcsize(fmt)))
    return value


def read_gguf_metadata(path: str | Path, *, prefix: str = "") -> dict[str, Any]:
    """The metadata entries of the GGUF file at ``path`` whose keys start with ``prefix``."""
    with open(path, "rb") as f:
        if _read(f, 4) != GGUF_MAGIC:
            raise GGUFError(f"{path} is not a GGUF file (bad magic)")
        (version,) = struct.unpack("<I", _read(f, 4))
        if version not in (2, 3):
            raise GGUFError(f"{path}: unsupported GGUF version {version}")
        _tensor_count, kv_count = struct.unpack("<QQ", _read(f, 16))
        metadata: dict[str, Any] = {}
        for _ in range(kv_count):
            key = _string(f)
            (kind,) = struct.unpack("<I", _read(f, 4))
            keep = key.startswith(prefix)
            value = _value(f, kind, keep)
            if keep:
                metadata[key] = value
        return metadata
