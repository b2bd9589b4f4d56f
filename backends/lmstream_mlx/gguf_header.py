"""Read the tensor table of a GGUF file (names and ggml types) without loading any data.

mlx's GGUF reader fails on some tensor types with a message that names neither the tensor
nor the type; this scan lets the loader say which tensors have which unsupported types.
"""

from __future__ import annotations

import struct
from pathlib import Path
from typing import BinaryIO

GGML_TYPE_NAMES: dict[int, str] = {
    0: "F32", 1: "F16", 2: "Q4_0", 3: "Q4_1", 6: "Q5_0", 7: "Q5_1", 8: "Q8_0", 9: "Q8_1",
    10: "Q2_K", 11: "Q3_K", 12: "Q4_K", 13: "Q5_K", 14: "Q6_K", 15: "Q8_K",
    16: "IQ2_XXS", 17: "IQ2_XS", 18: "IQ3_XXS", 19: "IQ1_S", 20: "IQ4_NL", 21: "IQ3_S",
    22: "IQ2_S", 23: "IQ4_XS", 24: "I8", 25: "I16", 26: "I32", 27: "I64", 28: "F64",
    29: "IQ1_M", 30: "BF16", 34: "TQ1_0", 35: "TQ2_0", 39: "MXFP4",
}

QUANTIZED_KEPT = ("Q4_0", "Q4_1", "Q8_0")
"""Types mlx keeps packed (weight/scales/biases); the model uses them as quantized layers."""
DEQUANTIZED_ON_LOAD = ("Q2_K", "Q4_K", "Q6_K", "BF16")
"""Types mlx's reader expands to float16 on load."""
FLOAT_TYPES = ("F32", "F16")
SUPPORTED_TYPES = FLOAT_TYPES + QUANTIZED_KEPT + DEQUANTIZED_ON_LOAD

# GGUF metadata value types -> fixed byte sizes (strings and arrays are variable).
_FIXED_SIZES = {0: 1, 1: 1, 2: 2, 3: 2, 4: 4, 5: 4, 6: 4, 7: 1, 10: 8, 11: 8, 12: 8}
_STRING, _ARRAY = 8, 9


class GGUFFormatError(ValueError):
    """The file is not a GGUF file this reader understands."""


def _read(f: BinaryIO, fmt: str) -> tuple[int, ...]:
    size = struct.calcsize(fmt)
    raw = f.read(size)
    if len(raw) != size:
        raise GGUFFormatError("unexpected end of file in the GGUF header")
    return struct.unpack(fmt, raw)


def _skip_string(f: BinaryIO) -> None:
    (length,) = _read(f, "<Q")
    f.seek(length, 1)


def _read_string(f: BinaryIO) -> str:
    (length,) = _read(f, "<Q")
    return f.read(length).decode("utf-8", errors="replace")


def _skip_value(f: BinaryIO, kind: int) -> None:
    if kind in _FIXED_SIZES:
        f.seek(_FIXED_SIZES[kind], 1)
    elif kind == _STRING:
        _skip_string(f)
    elif kind == _ARRAY:
        item_kind, count = _read(f, "<IQ")
        if item_kind in _FIXED_SIZES:
            f.seek(_FIXED_SIZES[item_kind] * count, 1)
        else:
            for _ in range(count):
                _skip_value(f, item_kind)
    else:
        raise GGUFFormatError(f"unknown GGUF metadata value type {kind}")


def read_tensor_types(path: str | Path) -> dict[str, str]:
    """Map each tensor name in the GGUF file to its ggml type name (e.g. ``"Q4_K"``)."""
    with open(path, "rb") as f:
        if f.read(4) != b"GGUF":
            raise GGUFFormatError(f"{path} is not a GGUF file (bad magic)")
        (version,) = _read(f, "<I")
        if version < 2:
            raise GGUFFormatError(f"GGUF version {version} is not supported (need 2 or later)")
        n_tensors, n_kv = _read(f, "<QQ")
        for _ in range(n_kv):
            _skip_string(f)
            (kind,) = _read(f, "<I")
            _skip_value(f, kind)
        result: dict[str, str] = {}
        for _ in range(n_tensors):
            name = _read_string(f)
            (n_dims,) = _read(f, "<I")
            f.seek(8 * n_dims, 1)
            kind, _offset = _read(f, "<IQ")
            result[name] = GGML_TYPE_NAMES.get(kind, f"type {kind}")
        return result


def unsupported_tensors(path: str | Path) -> dict[str, list[str]]:
    """Unsupported ggml type name -> the tensors of that type (empty when all are supported)."""
    found: dict[str, list[str]] = {}
    for name, kind in read_tensor_types(path).items():
        if kind not in SUPPORTED_TYPES:
            found.setdefault(kind, []).append(name)
    return found
