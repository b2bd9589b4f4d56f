"""The one GGUF header reader: metadata and tensor table of an untrusted file, bounded.

GGUF files come from the internet, so every count and length in the header is checked against
the bytes left in the file before anything is allocated or skipped, arrays nest at most
``MAX_ARRAY_DEPTH`` deep, tensors have 1 to 4 positive dimensions, and each tensor's data (for
the ggml types whose size is known) must lie inside the file. Versions 2 and 3 are read (1
used 32-bit counts and is long obsolete; a later version may change the layout). Every
problem is a ``GGUFFormatError`` (a ``ModelLoadError`` and a ``ValueError``) naming the file.
Stdlib only: the template loader and the MLX backend both use it.
"""

from __future__ import annotations

import mmap
import os
import struct
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..errors import GGUFFormatError

__all__ = ["GGUFFormatError", "GGUFHeader", "TensorInfo", "read_gguf_header"]

GGUF_MAGIC = b"GGUF"
SUPPORTED_VERSIONS = (2, 3)
MAX_ARRAY_DEPTH = 3
"""How deeply GGUF arrays may nest (real files use flat arrays)."""
MAX_DIMS = 4
"""ggml tensors have at most four dimensions."""
DEFAULT_ALIGNMENT = 32

# value type id -> struct format of a scalar of that type
_SCALARS = {
    0: "<B", 1: "<b", 2: "<H", 3: "<h", 4: "<I", 5: "<i",
    6: "<f", 7: "<?", 10: "<Q", 11: "<q", 12: "<d",
}
_STRING, _ARRAY = 8, 9

GGML_TYPE_NAMES: dict[int, str] = {
    0: "F32", 1: "F16", 2: "Q4_0", 3: "Q4_1", 6: "Q5_0", 7: "Q5_1", 8: "Q8_0", 9: "Q8_1",
    10: "Q2_K", 11: "Q3_K", 12: "Q4_K", 13: "Q5_K", 14: "Q6_K", 15: "Q8_K",
    16: "IQ2_XXS", 17: "IQ2_XS", 18: "IQ3_XXS", 19: "IQ1_S", 20: "IQ4_NL", 21: "IQ3_S",
    22: "IQ2_S", 23: "IQ4_XS", 24: "I8", 25: "I16", 26: "I32", 27: "I64", 28: "F64",
    29: "IQ1_M", 30: "BF16", 34: "TQ1_0", 35: "TQ2_0", 39: "MXFP4",
}

# ggml type id -> (elements per block, bytes per block), for the types whose layout is fixed
GGML_BLOCKS: dict[int, tuple[int, int]] = {
    0: (1, 4), 1: (1, 2), 2: (32, 18), 3: (32, 20), 6: (32, 22), 7: (32, 24), 8: (32, 34),
    9: (32, 36), 10: (256, 84), 11: (256, 110), 12: (256, 144), 13: (256, 176),
    14: (256, 210), 15: (256, 292), 24: (1, 1), 25: (1, 2), 26: (1, 4), 27: (1, 8),
    28: (1, 8), 30: (1, 2),
}


@dataclass(frozen=True)
class TensorInfo:
    """One entry of the tensor table: name, dimensions (ggml order), type id, data offset."""

    name: str
    shape: tuple[int, ...]
    type_id: int
    offset: int

    @property
    def type_name(self) -> str:
        """The ggml type name (``"Q4_K"``), or ``"type N"`` for an unknown id."""
        return GGML_TYPE_NAMES.get(self.type_id, f"type {self.type_id}")


@dataclass
class GGUFHeader:
    """What the header of a GGUF file declares (metadata filtered by the caller's predicate)."""

    version: int
    metadata: dict[str, Any] = field(default_factory=dict)
    tensors: list[TensorInfo] = field(default_factory=list)


class _Reader:
    """Reads from a memory-mapped file while never trusting a length past its end."""

    def __init__(self, data: mmap.mmap | bytes, size: int) -> None:
        self.data = data
        self.size = size
        self.pos = 0

    @property
    def left(self) -> int:
        return self.size - self.pos

    def _need(self, count: int, what: str) -> None:
        if count < 0 or count > self.size - self.pos:
            raise GGUFFormatError(f"{what} needs {count} bytes but only {self.left} are left "
                                  "(unexpected end of file: truncated or corrupt header)")

    def take(self, count: int, what: str) -> bytes:
        self._need(count, what)
        start = self.pos
        self.pos += count
        return self.data[start:self.pos]

    def unpack(self, fmt: str, what: str) -> tuple[Any, ...]:
        size = struct.calcsize(fmt)
        self._need(size, what)
        values = struct.unpack_from(fmt, self.data, self.pos)
        self.pos += size
        return values

    def skip(self, count: int, what: str) -> None:
        self._need(count, what)
        self.pos += count

    def count(self, what: str, minimum_each: int) -> int:
        """A 64-bit count whose items (at least ``minimum_each`` bytes each) fit in the file."""
        (number,) = self.unpack("<Q", what)
        if number * minimum_each > self.left:
            raise GGUFFormatError(f"{what} is {number}, more than the {self.left} bytes left "
                                  "could hold (unexpected end of file, or a corrupt count)")
        return int(number)

    def string(self, what: str, keep: bool = True) -> str | None:
        length = self.count(f"length of {what}", 1)
        if not keep:
            self.skip(length, what)
            return None
        return self.take(length, what).decode("utf-8", errors="replace")


def _minimum_size(kind: int) -> int:
    """The fewest bytes a value of ``kind`` can take (8 for strings/arrays: their length)."""
    if kind in _SCALARS:
        return struct.calcsize(_SCALARS[kind])
    if kind in (_STRING, _ARRAY):
        return 8 if kind == _STRING else 12
    raise GGUFFormatError(f"unknown GGUF value type {kind}")


def _value(reader: _Reader, kind: int, keep: bool, depth: int, key: str) -> Any:
    """Read one value; with ``keep=False`` it is skipped and None returned."""
    if kind == _STRING:
        return reader.string(f"string value of {key!r}", keep)
    if kind == _ARRAY:
        if depth >= MAX_ARRAY_DEPTH:
            raise GGUFFormatError(f"{key!r}: arrays nest deeper than {MAX_ARRAY_DEPTH}")
        (item_kind,) = reader.unpack("<I", f"array type of {key!r}")
        count = reader.count(f"array length of {key!r}", _minimum_size(item_kind))
        if item_kind in _SCALARS:
            fmt = _SCALARS[item_kind]
            width = struct.calcsize(fmt)
            if not keep:
                reader.skip(width * count, f"array {key!r}")
                return None
            raw = reader.take(width * count, f"array {key!r}")
            return list(struct.unpack(f"<{count}{fmt[1]}", raw))
        if item_kind == _STRING:
            return _strings(reader, count, keep, key)
        items = [_value(reader, item_kind, keep, depth + 1, key) for _ in range(count)]
        return items if keep else None
    scalar = _SCALARS.get(kind)
    if scalar is None:
        raise GGUFFormatError(f"{key!r} has unknown GGUF value type {kind}")
    (value,) = reader.unpack(scalar, f"value of {key!r}")
    return value


def _strings(reader: _Reader, count: int, keep: bool, key: str) -> list[str] | None:
    """An array of strings (the tokenizer's vocabulary: tens of thousands), in one tight loop."""
    data, pos, size = reader.data, reader.pos, reader.size
    unpack = struct.Struct("<Q").unpack_from
    items: list[str] = []
    for _ in range(count):
        if pos + 8 > size:
            reader.pos = pos
            reader._need(8, f"string length in array {key!r}")
        (length,) = unpack(data, pos)
        end = pos + 8 + length
        if end > size:
            reader.pos = pos + 8
            reader._need(length, f"string in array {key!r}")
        if keep:
            items.append(data[pos + 8:end].decode("utf-8", errors="replace"))
        pos = end
    reader.pos = pos
    return items if keep else None


def _tensor(reader: _Reader, index: int) -> TensorInfo:
    name = reader.string(f"name of tensor {index}") or ""
    (dims,) = reader.unpack("<I", f"dimension count of tensor {name!r}")
    if not 1 <= dims <= MAX_DIMS:
        raise GGUFFormatError(f"tensor {name!r} has {dims} dimensions (1 to {MAX_DIMS} allowed)")
    shape = reader.unpack(f"<{dims}Q", f"shape of tensor {name!r}")
    elements = 1
    for size in shape:
        if size < 1:
            raise GGUFFormatError(f"tensor {name!r} has an empty dimension: {list(shape)}")
        elements *= size
    if elements >= 1 << 62:
        raise GGUFFormatError(f"tensor {name!r} declares {elements} elements")
    type_id, offset = reader.unpack("<IQ", f"type and offset of tensor {name!r}")
    return TensorInfo(name, tuple(int(s) for s in shape), int(type_id), int(offset))


def tensor_bytes(tensor: TensorInfo) -> int | None:
    """The size of a tensor's data, or None for a ggml type whose layout is not known here."""
    block = GGML_BLOCKS.get(tensor.type_id)
    if block is None:
        return None
    elements = 1
    for size in tensor.shape:
        elements *= size
    per_block, size = block
    if tensor.shape[0] % per_block:
        raise GGUFFormatError(f"tensor {tensor.name!r} of type {tensor.type_name}: first "
                              f"dimension {tensor.shape[0]} is not a multiple of {per_block}")
    return elements // per_block * size


def _check_data(path: Path, header: GGUFHeader, data_start: int, size: int,
                alignment: Any) -> None:
    """Every tensor's data must lie inside the file."""
    if isinstance(alignment, bool) or not isinstance(alignment, int) or alignment < 1 \
            or alignment & (alignment - 1):
        raise GGUFFormatError(f"general.alignment {alignment!r} is not a power of two")
    start = -(-data_start // alignment) * alignment
    names: set[str] = set()
    for tensor in header.tensors:
        if tensor.name in names:
            raise GGUFFormatError(f"tensor {tensor.name!r} is listed twice")
        names.add(tensor.name)
        nbytes = tensor_bytes(tensor)
        end = start + tensor.offset + (nbytes or 0)
        if tensor.offset % alignment or end > size:
            raise GGUFFormatError(f"tensor {tensor.name!r}: data at offset {tensor.offset} "
                                  f"({nbytes} bytes) lies outside the file or is misaligned")


def read_gguf_header(path: str | Path, *, keep: Callable[[str], bool] = lambda key: True,
                     tensors: bool = True) -> GGUFHeader:
    """The header of the GGUF file at ``path``: the metadata entries whose key ``keep``
    accepts and (with ``tensors``) the tensor table, its data checked to lie in the file."""
    path = Path(path)
    try:
        with open(path, "rb") as handle:
            size = os.fstat(handle.fileno()).st_size
            if size == 0:
                return _read(path, _Reader(b"", 0), keep, tensors)
            with mmap.mmap(handle.fileno(), 0, access=mmap.ACCESS_READ) as data:
                return _read(path, _Reader(data, size), keep, tensors)
    except GGUFFormatError as exc:
        raise GGUFFormatError(f"GGUF file {str(path)!r}: {exc}") from None
    except OSError as exc:
        raise GGUFFormatError(f"cannot read GGUF file {str(path)!r}: "
                              f"{exc.strerror or exc}") from exc


def _read(path: Path, reader: _Reader, keep: Callable[[str], bool],
          want_tensors: bool) -> GGUFHeader:
    magic = reader.data[:4]
    reader.pos = 4
    if magic != GGUF_MAGIC:
        raise GGUFFormatError(f"not a GGUF file (bad magic {magic!r})")
    (version,) = reader.unpack("<I", "version")
    if version not in SUPPORTED_VERSIONS:
        raise GGUFFormatError(f"unsupported GGUF version {version} (readable: 2, 3)")
    tensor_count = reader.count("tensor count", 24)
    kv_count = reader.count("metadata entry count", 13)
    header = GGUFHeader(version=version)
    alignment: Any = DEFAULT_ALIGNMENT
    for _ in range(kv_count):
        key = reader.string("metadata key") or ""
        (kind,) = reader.unpack("<I", f"value type of {key!r}")
        wanted = keep(key) or key == "general.alignment"
        value = _value(reader, kind, wanted, 0, key)
        if key == "general.alignment":
            alignment = value
        if keep(key):
            header.metadata[key] = value
    if not want_tensors:
        return header
    header.tensors = [_tensor(reader, index) for index in range(tensor_count)]
    _check_data(path, header, reader.pos, reader.size, alignment)
    return header
