"""``lmstream generate`` through a subprocess: every option family, --json, stdin, exit codes."""

from __future__ import annotations

import pytest

import lmstream


def test_streams_the_answer(run_cli, scripted_args):
    done = run_cli("generate", "hi", *scripted_args("Hello there, friend.", cut="words"))
    assert done.returncode == 0, done.stderr
    assert done.stdout == "Hello there, friend.\n"


def test_model_option_names_the_model(run_cli, scripted_args):
    done = run_cli("-v", "generate", "hi", "--model", "my-model", "--observer", "log", *scripted_args("ok"))
    assert done.returncode == 0, done.stderr
    assert "model=my-model" in done.stderr and "backend=scripted" in done.stderr


def test_json_gives_one_event_per_line(run_cli, scripted_args, json_lines):
    done = run_cli("generate", "hi", "--json", *scripted_args("one two three", cut="words"))
    assert done.returncode == 0, done.stderr
    events = json_lines(done.stdout)
    assert [e["type"] for e in events] == ["chunk"] * 3 + ["info"]
    assert "".join(e["text"] for e in events[:-1]) == "one two three"
    assert all(isinstance(e["tokens"], list) and e["channel"] == "content" for e in events[:-1])
    assert events[0]["position"] < events[1]["position"] < events[2]["position"]
    info = events[-1]
    assert info["stop_reason"] == "stop" and info["error"] is None
    assert info["stats"]["generated_tokens"] == 4
    assert set(info["stats"]) >= {"ttft_s", "decode_tps", "itl_p99_s", "peak_bytes"}


def test_sampling_options_reach_the_parameters(run_cli, scripted_args, json_lines, tmp_path):
    done = run_cli("generate", "hi", *scripted_args("a b c d e f", cut="words"), "--observer", "jsonl",
                   "--max-tokens", "3", "--temperature", "0.7", "--top-p", "0.9", "--top-k", "40",
                   "--min-p", "0.05", "--seed", "7", "--json")
    assert done.returncode == 0, done.stderr
    assert json_lines(done.stdout)[-1]["stop_reason"] == "length"
    (record,) = json_lines((tmp_path / "lmstream-generations.jsonl").read_text())
    assert record["parameters"] == {"max_tokens": 3, "temperature": 0.7, "top_p": 0.9, "top_k": 40,
                                    "min_p": 0.05, "seed": 7}
    assert record["stats"]["generated_tokens"] == 3


def test_stop_strings_repeatable_and_never_printed(run_cli, scripted_args):
    reply = "Answer: 42\nUser: more?\nBye"
    done = run_cli("generate", "hi", *scripted_args(reply, cut="bytes"), "--stop", "XYZ", "--stop", "\nUser:")
    assert done.returncode == 0, done.stderr
    assert done.stdout == "Answer: 42\n"


def test_stats_prints_the_block(run_cli, scripted_args):
    done = run_cli("generate", "hi", "--stats", *scripted_args("a b c", cut="words", token_delay=0.01))
    assert done.returncode == 0, done.stderr
    answer, block = done.stdout.split("\n\n", 1)
    assert answer == "a b c"
    lines = block.splitlines()
    assert lines[0] == "[STATS]"
    labels = [line.split(":", 1)[0] for line in lines[1:]]
    assert labels == ["stop reason", "prompt", "generated", "context", "ttft", "prefill", "decode",
                      "decode (steady)", "itl p50/p95/p99", "backend"]
    assert "4 tokens" in lines[3]
    assert lines[-1] == "backend: scripted (requested)"


def test_stats_with_json_keeps_stdout_json(run_cli, scripted_args, json_lines):
    done = run_cli("generate", "hi", "--stats", "--json", *scripted_args("ab"))
    assert done.returncode == 0, done.stderr
    json_lines(done.stdout)  # every line parses
    assert "[STATS]" in done.stderr


def test_prompt_from_stdin(run_cli):
    done = run_cli("generate", "-", "--backend", "echo", "--raw", input="from stdin\n")
    assert done.returncode == 0, done.stderr
    assert done.stdout == "from stdin\n"


def test_system_prompt_and_template(run_cli):
    done = run_cli("generate", "the question", "--backend", "echo", "--system", "be brief",
                   "--template", "chatml")
    assert done.returncode == 0, done.stderr
    assert "<|im_start|>system\nbe brief<|im_end|>" in done.stdout
    assert "<|im_start|>user\nthe question<|im_end|>" in done.stdout
    assert done.stdout.rstrip().endswith("<|im_start|>assistant")


def test_template_string(run_cli):
    done = run_cli("generate", "q", "--backend", "echo", "--template",
                   "{% for m in messages %}[{{ m.role }}] {{ m.content }}{% endfor %}")
    assert done.returncode == 0, done.stderr
    assert done.stdout == "[user] q\n"


def test_tool_parser_prints_tool_calls(run_cli, scripted_args, json_lines):
    reply = 'Sure. <tool_call>{"name": "get_time", "arguments": {"zone": "UTC"}}</tool_call>'
    if "json" not in lmstream.get_plugin_system().tool_parsers:
        pytest.skip("the json tool-call parser is not registered")
    text = run_cli("generate", "hi", "--tool-parser", "json", *scripted_args(reply))
    assert text.returncode == 0, text.stderr
    assert text.stdout.startswith("Sure. \n[tool call ")
    assert 'get_time({"zone": "UTC"})' in text.stdout
    events = json_lines(run_cli("generate", "hi", "--tool-parser", "json", "--json",
                                *scripted_args(reply)).stdout)
    (call,) = [e for e in events if e["type"] == "tool_call"]
    assert call["name"] == "get_time" and call["arguments"] == {"zone": "UTC"}
    none = run_cli("generate", "hi", "--tool-parser", "none", *scripted_args(reply))
    assert none.stdout == reply + "\n"


def test_reasoning_goes_to_stderr(run_cli, scripted_args):
    done = run_cli("generate", "hi", *scripted_args("<think>let me see</think>42"))
    assert done.returncode == 0, done.stderr
    assert done.stdout == "42\n"
    assert "let me see" in done.stderr
    assert "\x1b[" not in done.stderr  # not a terminal: no dimming codes


BAD_ARGUMENTS = [
    ([], "the following arguments are required: PROMPT"),
    (["hi", "--max-tokens", "many"], "invalid int value"),
    (["hi", "--option", "novalue"], "expected KEY=VALUE"),
    (["hi", "--backend", "nope"], "unknown backend 'nope'"),
    (["hi", "--backend", "scripted", "--temperature", "-1"], "temperature"),
    (["hi", "--backend", "scripted", "--top-p", "0"], "top_p"),
    (["hi", "--backend", "scripted", "--option", "bogus=1"], "bogus"),
    (["hi", "--backend", "scripted", "--option", "x=1", "--option", "x=2"], "--option x given more than once"),
    (["hi", "--backend", "scripted", "--tool-parser", "nope"], "unknown tool parser 'nope'"),
    (["hi", "--backend", "scripted", "--observer", "nope"], "unknown observer 'nope'"),
    (["hi", "--backend", "scripted", "--template", "no-such-template"], "no-such-template"),
    (["hi", "--backend", "scripted", "--raw", "--system", "s"], "cannot take --system"),
    (["  ", "--backend", "scripted"], "the prompt is empty"),
    (["hi", "--backend", "scripted", "--option", "context_length=8"], "context of 8 tokens"),
]


@pytest.mark.parametrize("args, message", BAD_ARGUMENTS[:2] + BAD_ARGUMENTS[3:4])
def test_bad_arguments_exit_2(run_cli, args, message):
    done = run_cli("generate", *args)
    assert done.returncode == 2, (done.stdout, done.stderr)
    assert message in done.stderr
    assert done.stdout == ""


@pytest.mark.parametrize("args, message", BAD_ARGUMENTS)
def test_bad_arguments_return_2_in_process(args, message, capsys):
    from lmstream.cli import main

    assert main(["generate", *args]) == 2
    out, err = capsys.readouterr()
    assert message in err
    assert out == ""


def test_empty_stdin_exits_2(run_cli):
    done = run_cli("generate", "-", "--backend", "scripted", input="")
    assert done.returncode == 2 and "nothing on stdin" in done.stderr


def test_unknown_command_exits_2(run_cli):
    assert run_cli("frobnicate").returncode == 2
    assert run_cli().returncode == 2


def test_help_exits_0(run_cli):
    done = run_cli("generate", "--help")
    assert done.returncode == 0
    for option in ("--model", "--backend", "--system", "--max-tokens", "--temperature", "--top-p", "--top-k",
                   "--min-p", "--seed", "--stop", "--stats", "--json", "--tool-parser", "--template", "--option"):
        assert option in done.stdout


def test_failed_generation_exits_1_with_the_error(run_cli, scripted_args):
    done = run_cli("generate", "hi", *scripted_args("abcdef", fail_at=3))
    assert done.returncode == 1
    assert done.stdout == "abc\n"  # what was produced before the failure is kept
    assert "lmstream: error: generation failed: ScriptedFailure: scripted failure at token 3" in done.stderr


def test_failed_generation_in_json_mode(run_cli, scripted_args, json_lines):
    done = run_cli("generate", "hi", "--json", *scripted_args("abcdef", fail_at=2))
    assert done.returncode == 1
    info = json_lines(done.stdout)[-1]
    assert info["stop_reason"] == "error" and info["error"] == "ScriptedFailure: scripted failure at token 2"


def test_model_load_failure_exits_1(run_cli, tmp_path):
    if "mlx" not in lmstream.get_plugin_system().backends:
        pytest.skip("the mlx backend is not registered")
    done = run_cli("generate", "hi", "--model", str(tmp_path / "missing.gguf"))
    assert done.returncode == 1, done.stderr
    assert "lmstream: error: could not load the model" in done.stderr
    assert "missing.gguf" in done.stderr


def test_option_values_are_json_when_they_parse(run_cli, json_lines):
    # reply=hi (not JSON) is the string "hi"; repeat=true is a bool; a JSON list cycles replies
    done = run_cli("generate", "x", "--backend", "scripted", "--option", "reply=hi", "--json")
    assert "".join(e.get("text", "") for e in json_lines(done.stdout)) == "hi"
    done = run_cli("generate", "x", "--backend", "scripted", "-o", "reply=ab", "-o", "repeat=true",
                   "--max-tokens", "5")
    assert done.stdout == "ababa\n"


def test_console_script(tmp_path):
    import shutil
    import subprocess

    script = shutil.which("lmstream")
    if script is None:
        pytest.skip("the lmstream console script is not on PATH")
    done = subprocess.run([script, "generate", "hi", "--backend", "scripted", "-o", 'reply="x"'],
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert done.stdout == "x\n"
