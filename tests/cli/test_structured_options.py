"""``lmstream generate --json-schema / --regex / --grammar``: parsing and one real run each way."""

from __future__ import annotations

import json

import pytest

from lmstream.cli import UsageError, build_parser
from lmstream_commands.arguments import generation_parameters

pytest.importorskip("llguidance")

SCHEMA = {"type": "object", "properties": {"n": {"type": "integer"}}, "required": ["n"],
          "additionalProperties": False}


def parameters(*argv: str):  # type: ignore[no-untyped-def]
    return generation_parameters(build_parser().parse_args(["generate", "q", *argv]))


def test_options_become_response_formats(tmp_path) -> None:  # type: ignore[no-untyped-def]
    inline = parameters("--json-schema", json.dumps(SCHEMA)).response_format
    assert inline["json_schema"]["schema"] == SCHEMA
    path = tmp_path / "s.json"
    path.write_text(json.dumps(SCHEMA))
    assert parameters("--json-schema", str(path)).response_format == inline
    assert parameters("--regex", "[0-9]+").response_format == {"type": "regex", "pattern": "[0-9]+"}
    lark = tmp_path / "g.lark"
    lark.write_text('start: "a"+')
    params = parameters("--grammar", str(lark), "--constrain-reasoning")
    assert params.response_format == {"type": "grammar", "lark": 'start: "a"+'}
    assert params.constrain_reasoning is True
    assert parameters().response_format is None


def test_bad_option_values_are_usage_errors(tmp_path) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(UsageError, match="--json-schema is not JSON"):
        parameters("--json-schema", "{nope")
    with pytest.raises(UsageError, match="--grammar: cannot read"):
        parameters("--grammar", str(tmp_path / "missing.lark"))
    with pytest.raises(SystemExit):
        build_parser().parse_args(["generate", "q", "--regex", "a", "--grammar", "g"])


def test_generate_with_a_schema_prints_valid_json(run_cli, scripted_args) -> None:  # type: ignore[no-untyped-def]
    done = run_cli("generate", "q", "--raw", *scripted_args('<think>hm</think>{"n": 5, "x": 1}'),
                   "--json-schema", json.dumps(SCHEMA))
    assert done.returncode == 0, done.stderr
    # reasoning goes to stderr; the script's "5, " then "x" are bent into the schema: 51
    assert json.loads(done.stdout) == {"n": 51} and "hm" in done.stderr


def test_an_invalid_regex_fails_before_generating(run_cli, scripted_args) -> None:  # type: ignore[no-untyped-def]
    done = run_cli("generate", "q", *scripted_args("x"), "--regex", "a(")
    assert done.returncode == 2 and "invalid regex" in done.stderr


def test_lmstream_plugins_lists_the_constraint_engines() -> None:
    from lmstream.hooks import PluginSystem
    from lmstream_commands.plugins_command import describe

    lines = describe(PluginSystem())
    assert any("engines:" in line and "llguidance (structured)" in line for line in lines)
    assert any("register_constraint_engines" in line for line in lines if line.startswith("structured"))
