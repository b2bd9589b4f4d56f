"""A malformed-GGUF corpus, generated here: every case is a ModelLoadError within a second and
bounded memory, from the one header reader and from the MLX loader (before mlx allocates)."""

from __future__ import annotations

import struct
import sys
import time
import tracemalloc
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from lmstream.backend import read_gguf_header
from lmstream.errors import GGUFFormatError, ModelLoadError

np = pytest.importorskip("numpy")
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "mlx"))

from gguf_writer import F32, float_tensor, write_gguf  # noqa: E402

PEAK_BYTES = 32 * 1024 * 1024
U32, U64, STRING, ARRAY = 4, 10, 8, 9


def small_file(path: Path) -> Path:
    """A valid little GGUF: three metadata entries (one an array of strings), two tensors."""
    tensors = {"a.weight": float_tensor(np.ones((4, 32), np.float32)),
               "b.weight": float_tensor(np.ones(32, np.float32))}
    return write_gguf(path, {"general.architecture": "llama", "general.alignment": 32,
                             "tokenizer.ggml.tokens": ["x", "yy", "zzz"]}, tensors)


def raw(*parts: bytes) -> bytes:
    return b"".join(parts)


def s(text: str) -> bytes:
    data = text.encode()
    return struct.pack("<Q", len(data)) + data


def head(version: int = 3, tensors: int = 0, kvs: int = 1) -> bytes:
    return b"GGUF" + struct.pack("<IQQ", version, tensors, kvs)


def tensor_entry(name: str, dims: list[int], kind: int = F32, offset: int = 0) -> bytes:
    return s(name) + struct.pack("<I", len(dims)) + b"".join(struct.pack("<Q", d) for d in dims) \
        + struct.pack("<IQ", kind, offset)


CRAFTED: dict[str, bytes] = {
    "empty": b"",
    "wrong magic": b"GGUG" + bytes(40),
    "version 1": head(version=1) + bytes(40),
    "version 99": head(version=99) + bytes(40),
    "version 0": head(version=0) + bytes(40),
    "absurd kv count": head(kvs=2**62) + bytes(64),
    "absurd tensor count": head(tensors=2**62, kvs=0) + bytes(64),
    "absurd key length": head() + struct.pack("<Q", 2**63) + b"k",
    "absurd string value": head() + s("k") + struct.pack("<IQ", STRING, 2**62),
    "absurd array count": head() + s("k") + struct.pack("<IIQ", ARRAY, U32, 2**62),
    "absurd string array": head() + s("k") + struct.pack("<IIQ", ARRAY, STRING, 2**60),
    "unknown value type": head() + s("k") + struct.pack("<I", 77) + bytes(16),
    "unknown array type": head() + s("k") + struct.pack("<IIQ", ARRAY, 77, 1) + bytes(16),
    "nested arrays": head() + s("k") + struct.pack("<I", ARRAY)
    + struct.pack("<IQ", ARRAY, 1) * 10 + struct.pack("<IQ", U32, 0),
    "bad alignment": head(tensors=1) + s("general.alignment") + struct.pack("<II", U32, 3)
    + tensor_entry("t", [32]) + bytes(256),
    "zero dimension": head(tensors=1, kvs=0) + tensor_entry("t", [32, 0]) + bytes(256),
    "too many dimensions": head(tensors=1, kvs=0) + tensor_entry("t", [1] * 9) + bytes(256),
    "huge dimensions": head(tensors=1, kvs=0) + tensor_entry("t", [2**40, 2**40]) + bytes(256),
    "offset past the end": head(tensors=1, kvs=0) + tensor_entry("t", [32], offset=2**40)
    + bytes(256),
    "data past the end": head(tensors=1, kvs=0) + tensor_entry("t", [1024]) + bytes(256),
    "misaligned offset": head(tensors=1, kvs=0) + tensor_entry("t", [8], offset=3) + bytes(256),
    "duplicate tensor": head(tensors=2, kvs=0) + tensor_entry("t", [8]) + tensor_entry("t", [8])
    + bytes(256),
}


def assert_refused(action: Callable[[], Any], peak: int = PEAK_BYTES) -> ModelLoadError:
    tracemalloc.start()
    started = time.monotonic()
    try:
        with pytest.raises(ModelLoadError) as caught:
            action()
    finally:
        used = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()
    assert time.monotonic() - started < 1.0
    assert used < peak
    return caught.value


@pytest.mark.parametrize("name", sorted(CRAFTED))
def test_crafted_headers_are_refused(name: str, tmp_path: Path) -> None:
    path = tmp_path / "bad.gguf"
    path.write_bytes(CRAFTED[name])
    error = assert_refused(lambda: read_gguf_header(path))
    assert isinstance(error, GGUFFormatError) and isinstance(error, ValueError)
    assert str(path) in str(error)


def test_every_truncation_is_refused(tmp_path: Path) -> None:
    whole = small_file(tmp_path / "whole.gguf").read_bytes()
    assert read_gguf_header(tmp_path / "whole.gguf").tensors
    cut = tmp_path / "cut.gguf"
    header_end = len(whole) - 4 * 32 * 4 - 32 * 4  # the two F32 tensors' data follow the header
    lengths = list(range(header_end + 8)) + list(range(header_end + 8, len(whole), 37))
    for length in lengths:
        cut.write_bytes(whole[:length])
        started = time.monotonic()
        with pytest.raises(GGUFFormatError):
            read_gguf_header(cut)
        assert time.monotonic() - started < 1.0


def test_template_reader_and_mlx_header_scan_refuse_alike(tmp_path: Path) -> None:
    """Both users of the reader refuse the same files (versions included)."""
    templates = pytest.importorskip("lmstream_templates.gguf")
    for name in ("version 1", "version 99", "absurd kv count", "wrong magic"):
        path = tmp_path / f"{name}.gguf"
        path.write_bytes(CRAFTED[name])
        with pytest.raises(ModelLoadError):
            templates.read_gguf_metadata(path)
        with pytest.raises(templates.GGUFError):
            templates.read_gguf_metadata(path)


# -- the MLX loader: declared architecture against the tensors, before mlx allocates ---------

ARCHITECTURE_CASES: dict[str, tuple[dict[str, Any], str]] = {
    "many blocks": ({"llama.block_count": 100000}, "block_count=100000"),
    "more blocks than tensors": ({"llama.block_count": 3}, "block_count=3"),
    "zero heads": ({"llama.attention.head_count": 0}, "head_count=0"),
    "zero kv heads": ({"llama.attention.head_count_kv": 0}, "head_count_kv=0"),
    "kv heads not a divisor": ({"llama.attention.head_count": 2,
                                "llama.attention.head_count_kv": 3}, "key/value heads"),
    "zero width": ({"llama.embedding_length": 0}, "embedding_length=0"),
    "wrong width": ({"llama.embedding_length": 96}, "token_embd"),
    "zero context": ({"llama.context_length": 0}, "context_length=0"),
    "huge context": ({"llama.context_length": 4_000_000_000}, "context_length=4000000000"),
    "string count": ({"llama.block_count": "2"}, "block_count='2'"),
    "bool count": ({"llama.feed_forward_length": True}, "feed_forward_length=True"),
    "nan epsilon": ({"llama.attention.layer_norm_rms_epsilon": float("nan")}, "epsilon"),
    "wrong ffn": ({"llama.feed_forward_length": 64}, "ffn_up"),
    "huge vocabulary": ({"llama.vocab_size": 10_000_000}, "vocab_size=10000000"),
}


@pytest.mark.parametrize("name", sorted(ARCHITECTURE_CASES))
def test_declared_architecture_is_checked_before_allocating(
        name: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    pytest.importorskip("mlx.core")
    pytest.importorskip("tokenizers")
    from tiny_model import write_tiny_llama

    import lmstream_mlx.gguf as loader

    def no_load(*args: Any, **kwargs: Any) -> Any:
        raise AssertionError("mx.load was reached: the header check let the file through")

    overrides, match = ARCHITECTURE_CASES[name]
    path = write_tiny_llama(tmp_path / "tiny.gguf", **overrides)
    monkeypatch.setattr(loader.mx, "load", no_load)
    error = assert_refused(lambda: loader.load_gguf(path))
    assert match in str(error)


def test_valid_tiny_model_passes_the_checks(tmp_path: Path) -> None:
    pytest.importorskip("mlx.core")
    pytest.importorskip("tokenizers")
    from tiny_model import write_tiny_llama

    from lmstream_mlx.gguf_checks import check_architecture

    check_architecture(read_gguf_header(write_tiny_llama(tmp_path / "tiny.gguf")))


VALID: list[bytes] = []


@settings(max_examples=150, deadline=1000,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(edits=st.lists(st.tuples(st.integers(0, 10**6), st.integers(0, 255)), min_size=1,
                      max_size=6))
def test_mutated_bytes_read_or_refuse(edits: list[tuple[int, int]], tmp_path: Path) -> None:
    """Any byte mutation of a valid file either reads or is a GGUFFormatError, quickly."""
    path = tmp_path / "mutated.gguf"
    if not VALID:
        VALID.append(small_file(tmp_path / "valid.gguf").read_bytes())
    data = bytearray(VALID[0])
    for position, value in edits:
        data[position % len(data)] = value
    path.write_bytes(bytes(data))
    try:
        header = read_gguf_header(path)
    except GGUFFormatError:
        return
    assert header.version in (2, 3)
