"""llama.cpp process-wide setup and model loading: backend init, log capture, load errors.

llama.cpp reports why a file cannot be loaded only through its log callback; ``captured_log``
collects those lines so ``ModelLoadError`` can carry llama.cpp's reason. Every other line
goes to the ``lmstream.llama_cpp`` logger (DEBUG for info, WARNING/ERROR as llama.cpp rates
them) instead of stderr.
"""

from __future__ import annotations

import contextlib
import ctypes
import logging
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import llama_cpp

from lmstream import ModelLoadError

from .options import LlamaCppOptions

logger = logging.getLogger("lmstream.llama_cpp")

# ggml_log_level (ggml.h): NONE, DEBUG, INFO, WARN, ERROR, CONT (continues the previous line).
_LEVELS = {0: logging.DEBUG, 1: logging.DEBUG, 2: logging.INFO, 3: logging.WARNING,
           4: logging.ERROR}
_CONT = 5
ALL_LAYERS = 0x7FFFFFFF
"""``n_gpu_layers`` llama.cpp reads as "all" (what ``-1`` means to users)."""


class _LogState:
    """Where llama.cpp's log lines go: the logger, plus captures opened by ``captured_log``."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.captures: list[list[tuple[int, str]]] = []
        self.last_level = logging.INFO
        self.verbose = False


_state = _LogState()


@llama_cpp.llama_log_callback  # type: ignore[misc,untyped-decorator]
def _log_callback(level: int, text: bytes, _user_data: Any) -> None:
    message = text.decode("utf-8", errors="replace") if text else ""
    py_level = _state.last_level if level == _CONT else _LEVELS.get(level, logging.DEBUG)
    _state.last_level = py_level
    with _state.lock:
        for capture in _state.captures:
            capture.append((py_level, message))
    if py_level >= logging.WARNING:
        logger.log(py_level, "%s", message.rstrip())
    elif logger.isEnabledFor(logging.DEBUG) or _state.verbose:
        logger.log(logging.INFO if _state.verbose else logging.DEBUG, "%s", message.rstrip())


_initialized = False
_init_lock = threading.Lock()


def initialize(verbose: bool = False) -> None:
    """Install the log callback and initialize llama.cpp's backends (once per process)."""
    global _initialized
    _state.verbose = _state.verbose or verbose
    with _init_lock:
        if _initialized:
            return
        llama_cpp.llama_log_set(_log_callback, ctypes.c_void_p(0))
        llama_cpp.llama_backend_init()
        _initialized = True


@contextlib.contextmanager
def captured_log() -> Iterator[list[tuple[int, str]]]:
    """Collect llama.cpp's log lines (level, text) emitted inside the block."""
    lines: list[tuple[int, str]] = []
    with _state.lock:
        _state.captures.append(lines)
    try:
        yield lines
    finally:
        with _state.lock:
            _state.captures.remove(lines)


def failure_reason(lines: list[tuple[int, str]]) -> str:
    """llama.cpp's own explanation: its warning and error lines, joined."""
    text = "".join(message for level, message in lines if level >= logging.WARNING).strip()
    return " ".join(text.split()) or "llama.cpp gave no reason (see the lmstream.llama_cpp log)"


def _load_mode(options: LlamaCppOptions) -> int:
    if options.use_mmap and options.use_mlock:
        return int(llama_cpp.LLAMA_LOAD_MODE_MMAP_MLOCK)
    if options.use_mlock:
        return int(llama_cpp.LLAMA_LOAD_MODE_MLOCK)
    if options.use_mmap:
        return int(llama_cpp.LLAMA_LOAD_MODE_MMAP)
    return int(llama_cpp.LLAMA_LOAD_MODE_NONE)


def model_params(options: LlamaCppOptions) -> Any:
    """``llama_model_params`` for ``options`` (older bindings name mmap/mlock as two flags)."""
    params = llama_cpp.llama_model_default_params()
    params.n_gpu_layers = ALL_LAYERS if options.n_gpu_layers == -1 else options.n_gpu_layers
    names = {name for name, *_ in params._fields_}
    if "load_mode" in names:
        params.load_mode = _load_mode(options)
    else:  # llama-cpp-python before load_mode
        params.use_mmap = options.use_mmap
        params.use_mlock = options.use_mlock
    return params


def load_model(path: Path, options: LlamaCppOptions) -> Any:
    """A ``llama_model*`` for the GGUF file ``path``; ModelLoadError carries llama.cpp's reason."""
    if not path.is_file():
        raise ModelLoadError(f"model {str(path)!r} not found: no such file")
    initialize(options.verbose)
    with captured_log() as lines:
        model = llama_cpp.llama_model_load_from_file(str(path).encode("utf-8"), model_params(options))
    if not model:
        raise ModelLoadError(f"llama.cpp could not load {path}: {failure_reason(lines)}")
    return model


def context_params(options: LlamaCppOptions, n_ctx: int) -> Any:
    """``llama_context_params``: one unified KV cache of ``n_ctx`` cells for all sequences."""
    params = llama_cpp.llama_context_default_params()
    params.n_ctx = n_ctx
    params.n_batch = options.n_batch
    params.n_ubatch = options.n_ubatch
    params.n_seq_max = options.n_seq_max
    params.n_threads = options.threads
    params.n_threads_batch = options.threads_batch
    names = {name for name, *_ in params._fields_}
    if "kv_unified" in names:
        params.kv_unified = True
    if "flash_attn_type" in names:  # AUTO (-1), DISABLED (0), ENABLED (1)
        params.flash_attn_type = -1 if options.flash_attn is None else int(options.flash_attn)
    elif "flash_attn" in names:  # older bindings: a flag
        params.flash_attn = bool(options.flash_attn)
    return params


def new_context(model: Any, options: LlamaCppOptions, n_ctx: int) -> Any:
    """A ``llama_context*`` on ``model``; ModelLoadError carries llama.cpp's reason."""
    with captured_log() as lines:
        ctx = llama_cpp.llama_init_from_model(model, context_params(options, n_ctx))
    if not ctx:
        raise ModelLoadError(f"llama.cpp could not create a context (n_ctx={n_ctx}, "
                             f"n_seq_max={options.n_seq_max}): {failure_reason(lines)}")
    return ctx


def meta_string(model: Any, key: str) -> str | None:
    """One GGUF metadata value as llama.cpp renders it, or None when the file lacks the key."""
    size = 256
    while True:
        buf = ctypes.create_string_buffer(size)
        n = llama_cpp.llama_model_meta_val_str(model, key.encode("utf-8"), buf, size)
        if n < 0:
            return None
        if n < size:
            return buf.value.decode("utf-8", errors="replace")
        size = n + 1
