"""What a new user trips over first: --version, python -m lmstream, --max-kv-size, plain error
lines, JSON nulls for unknown figures."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

import lmstream
from lmstream.cli import main
from lmstream.cli.main import describe_error


def test_version(capsys):
    assert main(["--version"]) == 0
    assert capsys.readouterr().out.strip() == f"lmstream {lmstream.__version__}"


def test_python_dash_m_lmstream():
    done = subprocess.run([sys.executable, "-m", "lmstream", "--version"], capture_output=True,
                          text=True, timeout=60)
    assert done.returncode == 0 and done.stdout.strip() == f"lmstream {lmstream.__version__}"


LONG_PROMPT = "one two three four five six seven eight nine ten eleven twelve"


def test_context_error_advises_max_kv_size_and_the_cli_takes_it(capsys):
    base = ["generate", LONG_PROMPT, "--raw", "--backend", "scripted", "--option", "context_length=8",
            "--option", 'reply="ok"', "--option", 'cut="words"']
    assert main(base) == 2
    err = capsys.readouterr().err
    assert "max_kv_size" in err and "--max-kv-size" in _help()
    for extra in (["--max-kv-size", "64"], ["--option", "max_kv_size=64"], ["-o", "max_kv_size=64"]):
        assert main([*base, *extra]) == 0, capsys.readouterr().err
        assert capsys.readouterr().out == "ok\n"


def test_max_kv_size_given_twice_is_a_usage_error(capsys):
    assert main(["generate", "hi", "--backend", "scripted", "--max-kv-size", "64",
                 "-o", "max_kv_size=32"]) == 2
    assert "with --max-kv-size or --option max_kv_size, not both" in capsys.readouterr().err


def _help() -> str:
    done = subprocess.run([sys.executable, "-m", "lmstream", "generate", "--help"],
                          capture_output=True, text=True, timeout=60)
    return done.stdout


@pytest.mark.parametrize("args, expected", [
    (["--option", "bogus=1"], "lmstream: error: unknown scripted backend option(s): bogus; known: "),
    (["--temperature", "-1"], "lmstream: error: invalid GenerationParameters: temperature:"),
    (["-o", "top_kk=3"], None),
])
def test_errors_are_one_plain_line(args, expected, capsys):
    code = main(["generate", "hi", "--backend", "scripted", *args])
    err = capsys.readouterr().err
    lines = [line for line in err.splitlines() if line.strip()]
    assert code == 2 and len(lines) == 1, err
    line = lines[0]
    assert not any(f"{name}:" in line for name in ("TypeError", "ValueError", "ValidationError",
                                                    "KeyError", "LookupError"))
    assert "Extra inputs are not permitted" not in line and "Value error," not in line
    if expected is not None:
        assert line.startswith(expected), line


def test_describe_error_drops_the_class_prefix():
    error = TypeError("unknown mlx backend option(s): colour; known: dtype, lazy")
    assert describe_error(error) == "unknown mlx backend option(s): colour; known: dtype, lazy"
    assert describe_error(KeyError("missing")) == "missing"
    assert describe_error(RuntimeError()) == "RuntimeError"


def test_describe_error_for_pydantic_extra_fields():
    with pytest.raises(Exception) as caught:
        lmstream.GenerationParameters(max_kv_sizee=3)  # type: ignore[call-arg]
    assert describe_error(caught.value) == (
        "invalid GenerationParameters: max_kv_sizee is not a known field")


def test_json_unknown_figures_are_null(capsys):
    assert main(["generate", "hi", "--backend", "scripted", "--option", 'reply="a b"',
                 "--option", 'cut="words"', "--json"]) == 0
    info = [json.loads(line) for line in capsys.readouterr().out.splitlines()][-1]
    stats = info["stats"]
    assert info["type"] == "info" and stats["generated_tokens"] < 12
    assert stats["steady_decode_tps"] is None  # the [STATS] block says n/a
    assert stats["prompt_tokens"] > 0 and stats["total_s"] > 0
