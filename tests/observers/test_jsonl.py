"""The jsonl observer: one valid JSON line per generation, also under concurrency."""

from __future__ import annotations

import json
import threading

import pytest

import lmstream
from lmstream import GenerationStats, Info, StopReason
from lmstream.hooks import GenerationRecord
from lmstream_observers import JsonlObserver
from lmstream_observers.jsonl import PATH_ENV


def read_lines(path):
    lines = path.read_text(encoding="utf-8").splitlines()
    return [json.loads(line) for line in lines]


def test_one_record_per_generation(scripted, tmp_path):
    path = tmp_path / "gen.jsonl"
    context = scripted("héllo wörld", cut="words")
    observer = JsonlObserver(path)
    info = context.generate("hi", observers=[observer], temperature=0.5, stop=["zz"]).info
    context.generate("hi", observers=[observer], max_tokens=1)
    first, second = read_lines(path)
    assert first["model"] == "scripted" and first["backend"] == "scripted" and first["kind"] == "decoded"
    assert first["stop_reason"] == "stop" and first["error"] is None
    assert first["stats"] == info.stats.to_dict()
    assert first["parameters"] == {"temperature": 0.5, "stop": ["zz"]}
    assert second["stop_reason"] == "length" and second["stats"]["generated_tokens"] == 1
    assert first["id"] != second["id"]


def test_twenty_concurrent_generations_give_twenty_valid_lines(scripted, tmp_path):
    path = tmp_path / "concurrent.jsonl"
    observer = JsonlObserver(path)
    # 20 contexts = 20 worker threads generating (and ending) at the same time
    contexts = [scripted(" ".join(["word"] * 40), cut="words", token_delay=0.001, name=f"m{i}") for i in range(20)]
    barrier = threading.Barrier(20)
    errors: list[BaseException] = []

    def run(context: lmstream.ModelContext) -> None:
        try:
            barrier.wait()
            context.generate("go", observers=[observer])
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=run, args=(c,)) for c in contexts]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert not errors
    records = read_lines(path)
    assert len(records) == 20
    assert sorted(r["model"] for r in records) == sorted(f"m{i}" for i in range(20))
    assert all(r["stats"]["generated_tokens"] == 41 for r in records)


def test_contended_writes_from_many_observers_on_one_file(tmp_path, scripted):
    path = tmp_path / "shared.jsonl"
    model = scripted("x").info
    record = GenerationRecord(model=model, parameters=lmstream.GenerationParameters(), prompt_tokens=1)
    big = Info(StopReason.STOP, GenerationStats(generated_tokens=7))
    observers = [JsonlObserver(path) for _ in range(20)]  # separate objects share the file's lock
    barrier = threading.Barrier(20)

    def write(observer: JsonlObserver) -> None:
        barrier.wait()
        for _ in range(25):
            observer.on_end(record, big)

    threads = [threading.Thread(target=write, args=(o,)) for o in observers]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    records = read_lines(path)
    assert len(records) == 500
    assert all(r["stats"]["generated_tokens"] == 7 for r in records)


def test_the_jsonl_name_uses_the_env_path(scripted, tmp_path, monkeypatch):
    path = tmp_path / "from-env.jsonl"
    monkeypatch.setenv(PATH_ENV, str(path))
    scripted("abc").generate("hi", observers=["jsonl"])
    assert len(read_lines(path)) == 1


def test_default_path_is_in_the_working_directory(scripted, tmp_path, monkeypatch):
    monkeypatch.delenv(PATH_ENV, raising=False)
    monkeypatch.chdir(tmp_path)
    scripted("abc").generate("hi", observers=["jsonl"])
    assert len(read_lines(tmp_path / "lmstream-generations.jsonl")) == 1


def test_error_is_recorded_as_text(scripted, tmp_path):
    path = tmp_path / "err.jsonl"
    list(scripted("abcdef", fail_at=1).generate_stream("hi", observers=[JsonlObserver(path)]))
    (record,) = read_lines(path)
    assert record["stop_reason"] == "error"
    assert record["error"] == "ScriptedFailure: scripted failure at token 1"


def test_a_directory_is_refused(tmp_path):
    with pytest.raises(IsADirectoryError, match="is a directory"):
        JsonlObserver(tmp_path)


def test_a_missing_folder_is_refused(tmp_path):
    with pytest.raises(FileNotFoundError, match="folder does not exist"):
        JsonlObserver(tmp_path / "no" / "such.jsonl")


def test_records_stay_one_line_whatever_the_text(scripted, tmp_path):
    path = tmp_path / "breaks.jsonl"
    context = scripted("abc", name="model\u2028name\x85")
    context.generate("hi", observers=[JsonlObserver(path)], stop=["\u2029", "é"])
    text = path.read_text(encoding="utf-8")
    assert len(text.splitlines()) == 1
    record = json.loads(text)
    assert record["model"] == "model\u2028name\x85" and record["parameters"]["stop"] == ["\u2029", "é"]
