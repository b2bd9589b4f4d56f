"""Interpreter exit is clean with or without ``close()``, also mixed with mlx-lm's own generation."""

from __future__ import annotations

import subprocess
import sys
import textwrap

import pytest

SCRIPT = textwrap.dedent('''
    import sys
    import mlx_lm
    import lmstream
    from lmstream_mlx.loading import default_model_path
    from lmstream_mlx.convert import gguf_to_mlx_lm

    model, tokenizer = mlx_lm.load(str(gguf_to_mlx_lm(default_model_path(), sys.argv[2])))
    context = lmstream.load(backend="mlx")

    def ours():
        return "".join(e.text for e in lmstream.generate("Hi", context=context,
                       parameters={"max_tokens": 4}) if isinstance(e, lmstream.Chunk))

    def theirs():
        return "".join(r.text for r in mlx_lm.stream_generate(model, tokenizer, "Hi", max_tokens=4))

    for run in ((theirs, ours) if sys.argv[1] == "theirs-first" else (ours, theirs)):
        run()
    # a generation nobody reads is still running when the interpreter exits
    unread = lmstream.generate("Tell me a long story", context=context, parameters={"max_tokens": None})
    print("done", flush=True)
''')


@pytest.mark.slow
@pytest.mark.parametrize("order", ["theirs-first", "ours-first"])
def test_exit_without_close_is_clean_next_to_mlx_lm(tmp_path, order):
    script = tmp_path / "script.py"
    script.write_text(SCRIPT)
    done = subprocess.run([sys.executable, str(script), order, str(tmp_path / "converted")],
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, (done.returncode, done.stderr[-2000:])
    assert "done" in done.stdout
