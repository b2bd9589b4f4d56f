"""A minimal GGUF v3 writer for tests: tiny files with exact tensor types (F32, F16, Q4_0, Q4_1, Q8_0, ...).

mlx can only write float GGUF tensors; the quantized and unsupported-type cases of the loader need
files whose blocks we control, so this writes the format directly (spec: ggml docs/gguf.md).
"""

from __future__ import annotations

import struct
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

F32, F16, Q4_0, Q4_1, Q8_0, Q4_K = 0, 1, 2, 3, 8, 12
_BLOCK = 32
_ALIGN = 32

_UINT32, _INT32, _FLOAT32, _BOOL, _STRING, _ARRAY = 4, 5, 6, 7, 8, 9


def _string(value: str) -> bytes:
    raw = value.encode("utf-8")
    return struct.pack("<Q", len(raw)) + raw


def _value(value: Any) -> tuple[int, bytes]:
    """GGUF value type and encoding of a Python value (bool, int, float, str or a list of them)."""
    if isinstance(value, bool):
        return _BOOL, struct.pack("<?", value)
    if isinstance(value, int):
        return (_INT32, struct.pack("<i", value)) if value < 0 else (_UINT32, struct.pack("<I", value))
    if isinstance(value, float):
        return _FLOAT32, struct.pack("<f", value)
    if isinstance(value, str):
        return _STRING, _string(value)
    if isinstance(value, list | tuple):
        if not value:
            return _ARRAY, struct.pack("<IQ", _STRING, 0)
        kinds = {_value(v)[0] for v in value}
        kind = _INT32 if kinds == {_INT32, _UINT32} else kinds.pop()
        if kind == _INT32:
            body = b"".join(struct.pack("<i", v) for v in value)
        else:
            body = b"".join(_value(v)[1] for v in value)
        return _ARRAY, struct.pack("<IQ", kind, len(value)) + body
    raise TypeError(f"unsupported GGUF metadata value {value!r}")


def quantize_blocks(values: np.ndarray, kind: int) -> bytes:
    """Encode a float array (rows of multiples of 32) as GGUF blocks of ``kind``."""
    flat = values.astype(np.float32).reshape(-1, _BLOCK)
    out = bytearray()
    for block in flat:
        if kind == Q8_0:
            d = float(np.abs(block).max()) / 127 or 1.0
            q = np.clip(np.round(block / d), -127, 127).astype(np.int8)
            out += np.float16(d).tobytes() + q.tobytes()
        elif kind == Q4_0:
            d = float(np.abs(block).max()) / 7 or 1.0
            q = (np.clip(np.round(block / d), -8, 7) + 8).astype(np.uint8)
            out += np.float16(d).tobytes() + (q[:16] | (q[16:] << 4)).astype(np.uint8).tobytes()
        elif kind == Q4_1:
            lo, hi = float(block.min()), float(block.max())
            d = (hi - lo) / 15 or 1.0
            q = np.clip(np.round((block - lo) / d), 0, 15).astype(np.uint8)
            out += np.float16(d).tobytes() + np.float16(lo).tobytes()
            out += (q[:16] | (q[16:] << 4)).astype(np.uint8).tobytes()
        else:
            raise ValueError(f"no block encoder for GGUF type {kind}")
    return bytes(out)


def dequantize_blocks(raw: bytes, kind: int, shape: tuple[int, ...]) -> np.ndarray:
    """What a reader should recover from ``quantize_blocks`` output (the exact quantized values)."""
    size = {Q8_0: 34, Q4_0: 18, Q4_1: 20}[kind]
    blocks = [raw[i:i + size] for i in range(0, len(raw), size)]
    rows = []
    for b in blocks:
        d = float(np.frombuffer(b[:2], np.float16)[0])
        if kind == Q8_0:
            rows.append(d * np.frombuffer(b[2:], np.int8).astype(np.float32))
            continue
        payload = np.frombuffer(b[4:] if kind == Q4_1 else b[2:], np.uint8)
        q = np.concatenate([payload & 0x0F, payload >> 4]).astype(np.float32)
        if kind == Q4_0:
            rows.append(d * (q - 8))
        else:
            rows.append(d * q + float(np.frombuffer(b[2:4], np.float16)[0]))
    return np.concatenate(rows).reshape(shape)


def write_gguf(path: str | Path, metadata: Mapping[str, Any],
               tensors: Mapping[str, tuple[int, tuple[int, ...], bytes]]) -> Path:
    """Write a GGUF file; ``tensors`` maps name -> (ggml type, numpy-order shape, raw data)."""
    path = Path(path)
    header = bytearray(b"GGUF" + struct.pack("<IQQ", 3, len(tensors), len(metadata)))
    for key, value in metadata.items():
        kind, body = _value(value)
        header += _string(key) + struct.pack("<I", kind) + body
    data = bytearray()
    for name, (kind, shape, raw) in tensors.items():
        dims = list(reversed(shape))
        header += _string(name) + struct.pack("<I", len(dims))
        header += b"".join(struct.pack("<Q", d) for d in dims)
        header += struct.pack("<IQ", kind, len(data))
        data += raw
        data += b"\0" * (-len(data) % _ALIGN)
    header += b"\0" * (-len(header) % _ALIGN)
    path.write_bytes(bytes(header) + bytes(data))
    return path


def float_tensor(values: np.ndarray, kind: int = F32) -> tuple[int, tuple[int, ...], bytes]:
    """A tensor entry for ``write_gguf`` holding ``values`` as F32 or F16."""
    dtype = np.float32 if kind == F32 else np.float16
    return kind, tuple(values.shape), values.astype(dtype).tobytes()


def quant_tensor(values: np.ndarray, kind: int) -> tuple[int, tuple[int, ...], bytes]:
    """A tensor entry for ``write_gguf`` holding ``values`` quantized to ``kind``."""
    return kind, tuple(values.shape), quantize_blocks(values, kind)
