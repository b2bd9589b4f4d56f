"""llama_cpp backend options and registration: validated before llama_cpp is imported."""

from __future__ import annotations

import subprocess
import sys

import pytest

import lmstream
from lmstream_llama_cpp.options import LlamaCppOptions


def test_the_backend_is_registered_through_the_entry_point() -> None:
    assert "llama_cpp" in lmstream.get_plugin_system().backends.names()


def test_registering_does_not_import_llama_cpp() -> None:
    code = ("import sys, lmstream; lmstream.get_plugin_system().backends.get('llama_cpp'); "
            "print('llama_cpp' in sys.modules)")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "False"


def test_unknown_option_names_it_and_the_known_ones() -> None:
    with pytest.raises(TypeError, match=r"n_thread\b.*known: .*n_threads"):
        LlamaCppOptions.parse({"n_thread": 2})


@pytest.mark.parametrize(("options", "field"), [
    ({"n_ctx": 0}, "n_ctx"), ({"n_batch": -1}, "n_batch"), ({"n_threads": 1.5}, "n_threads"),
    ({"n_threads_batch": True}, "n_threads_batch"), ({"n_gpu_layers": -2}, "n_gpu_layers"),
    ({"n_seq_max": 1000}, "n_seq_max"), ({"n_ubatch": 1024, "n_batch": 512}, "n_ubatch"),
    ({"use_mmap": "yes"}, "use_mmap"), ({"use_mlock": 1}, "use_mlock"),
    ({"flash_attn": "auto"}, "flash_attn"),
])
def test_bad_values_name_the_option(options: dict[str, object], field: str) -> None:
    with pytest.raises((TypeError, ValueError), match=field):
        LlamaCppOptions.parse(options)


def test_defaults() -> None:
    opts = LlamaCppOptions.parse({"n_gpu_layers": -1, "n_threads": 3})
    assert opts.threads == 3 and opts.threads_batch >= 1
    assert opts.n_ctx is None and opts.n_seq_max == 8 and opts.use_mmap and not opts.use_mlock


def test_unknown_option_fails_at_load_before_any_file_is_read(tmp_path) -> None:
    with pytest.raises(TypeError, match="n_thread"):
        lmstream.load(str(tmp_path / "missing.gguf"), backend="llama_cpp", n_thread=2)


def test_default_threads_leave_one_core_for_python_in_decode(monkeypatch) -> None:
    from lmstream_llama_cpp import options

    for cores, decode in ((1, 1), (2, 1), (8, 7)):
        monkeypatch.setattr(options, "usable_cores", lambda cores=cores: cores)
        opts = LlamaCppOptions.parse({})
        assert (opts.threads, opts.threads_batch) == (decode, cores)
    assert LlamaCppOptions.parse({"n_threads": 2, "n_threads_batch": 1}).threads == 2
