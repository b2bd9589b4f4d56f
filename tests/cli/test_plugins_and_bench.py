"""``lmstream plugins`` and ``lmstream bench``."""

from __future__ import annotations

from lmstream.hooks import PluginSystem
from lmstream_commands.plugins_command import describe


def test_plugins_lists_plugins_hooks_names_and_errors(run_cli):
    done = run_cli("plugins")
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert lines[0].split() == ["PLUGIN", "DISTRIBUTION", "HOOKS"]
    rows = {line.split()[0]: line for line in lines[1:] if line and not line.startswith(" ")
            and ":" not in line}
    assert {"observers", "scripted", "templates"} <= set(rows)
    assert "lmstream 0.1.0" in rows["observers"] and "register_observers" in rows["observers"]
    assert "register_backends" in rows["scripted"]
    assert any("observers:" in line and "stats (observers)" in line for line in lines)
    assert any("backends:" in line and "scripted (scripted)" in line for line in lines)


def test_plugins_shows_load_errors_and_runtime_plugins():
    system = PluginSystem(load_entry_points=False)
    system.load_errors["broken"] = "ImportError: no module named broken_plugin"

    class Runtime:
        pass

    system.register(Runtime(), name="runtime-thing")
    text = "\n".join(describe(system))
    assert "runtime-thing  (registered at run time)  (none)" in text
    assert "failed to load:\n  broken: ImportError: no module named broken_plugin" in text
    assert "backends:       (none)" in text


def test_bench_prints_a_table(run_cli):
    done = run_cli("bench", "--backend", "scripted", "--option", 'reply="a b c d"', "--option", 'cut="words"',
                   "--option", "repeat=true", "--option", "token_delay=0.005",
                   "--runs", "2", "--warmup", "1", "--prompt-tokens", "32", "--max-tokens", "8")
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert lines[0].startswith("model: scripted (backend scripted); 2 runs after 1 warm-up run, ")
    assert lines[1].split() == ["run", "prompt", "prefill", "tok/s", "generated", "decode", "tok/s", "ttft", "ms"]
    rows = [line.split() for line in lines[2:5]]
    assert [row[0] for row in rows] == ["1", "2", "mean"]
    for row in rows[:2]:
        assert row[1] == "32" and row[3] == "8"
        assert 100 <= float(row[4]) <= 205  # ~1/0.005 tok/s
        assert 4 <= float(row[5]) <= 100  # ttft ms, about one delay


def test_bench_rejects_bad_counts(run_cli):
    done = run_cli("bench", "--backend", "scripted", "--runs", "0")
    assert done.returncode == 2 and "--runs" in done.stderr


def test_bench_failure_exits_1(run_cli):
    done = run_cli("bench", "--backend", "scripted", "--option", "fail_at=1", "--runs", "1")
    assert done.returncode == 1 and "run 1 failed: ScriptedFailure" in done.stderr


def test_plugins_shows_a_name_clash_on_that_registrys_row_only(plugin_system):
    import lmstream

    class SecondJson:
        @lmstream.hookimpl(trylast=True)
        def lmstream_register_tool_parsers(self, register):
            register("json", lambda tools: None)

    plugin_system.register(SecondJson(), name="second-json")
    lines = describe(plugin_system)
    start = next(i for i, line in enumerate(lines) if line.startswith("registered names:"))
    rows = lines[start + 1:]
    warnings = [i for i, line in enumerate(rows) if "warning:" in line]
    assert len(warnings) == 1
    assert rows[warnings[0] - 1].lstrip().startswith("tool parsers:")
    assert "json (toolcalls)" in rows[warnings[0] - 1]
    assert rows[warnings[0]].strip() == (
        "warning: tool parser 'json' registered twice: by toolcalls (kept) and by second-json (ignored)")
    assert not any("error" in row for row in rows)


def test_stats_with_the_observers_plugin_disabled_names_the_plugin(run_cli):
    done = run_cli("generate", "hi", "--backend", "scripted", "--stats",
                   env={"LMSTREAM_DISABLE_PLUGINS": "observers"})
    assert done.returncode == 2
    assert done.stderr.strip().splitlines()[-1].endswith(
        "--stats needs the 'stats' observer of the 'observers' plugin, "
        "which LMSTREAM_DISABLE_PLUGINS disables")
    # without --stats the same command works
    done = run_cli("generate", "hi", "--backend", "scripted", "--option", 'reply="ok"',
                   env={"LMSTREAM_DISABLE_PLUGINS": "observers"})
    assert done.returncode == 0 and done.stdout.startswith("ok"), done.stderr
