"""Read the tensor table of a GGUF file (names and ggml types) without loading any data.

mlx's GGUF reader fails on some tensor types with a message that names neither the tensor
nor the type; this scan (lmstream's one hardened GGUF reader,
``lmstream.backend.read_gguf_header``) lets the loader say which tensors have which unsupported types.
"""

from __future__ import annotations

from pathlib import Path

from lmstream import GGUFFormatError
from lmstream.backend import GGML_TYPE_NAMES, read_gguf_header

__all__ = ["GGML_TYPE_NAMES", "GGUFFormatError", "read_tensor_types", "unsupported_tensors"]

QUANTIZED_KEPT = ("Q4_0", "Q4_1", "Q8_0")
"""Types mlx keeps packed (weight/scales/biases); the model uses them as quantized layers."""
DEQUANTIZED_ON_LOAD = ("Q2_K", "Q4_K", "Q6_K", "BF16")
"""Types mlx's reader expands to float16 on load."""
FLOAT_TYPES = ("F32", "F16")
SUPPORTED_TYPES = FLOAT_TYPES + QUANTIZED_KEPT + DEQUANTIZED_ON_LOAD


def read_tensor_types(path: str | Path) -> dict[str, str]:
    """Map each tensor name in the GGUF file to its ggml type name (e.g. ``"Q4_K"``)."""
    header = read_gguf_header(path, keep=lambda key: False)
    return {tensor.name: tensor.type_name for tensor in header.tensors}


def unsupported_tensors(path: str | Path) -> dict[str, list[str]]:
    """Unsupported ggml type name -> the tensors of that type (empty when all are supported)."""
    found: dict[str, list[str]] = {}
    for name, kind in read_tensor_types(path).items():
        if kind not in SUPPORTED_TYPES:
            found.setdefault(kind, []).append(name)
    return found
