"""Structured output on the llama_cpp backend (default model, short): the batch runner masks a
constrained row in place (advance-then-mask order, logprobs of the masked distribution), and
JSON-schema streams validate while batched with an unconstrained one that stays unchanged."""

from __future__ import annotations

import json
import math
import threading
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from lmstream.model import GenerationControl, SequenceRequest
from lmstream.protocol import GenerationParameters

pytestmark = pytest.mark.slow

SCHEMAS = {item["name"]: item for item in json.loads(
    (Path(__file__).resolve().parents[1] / "data" / "structured_schemas.json").read_text(encoding="utf-8"))}


class AllowOnly:
    """A fake constraint: only ``ids`` may come next, every step; records its calls in order."""

    def __init__(self, ids: list[int], width: int) -> None:
        self.row = np.zeros(width, dtype=np.bool_)
        self.row[ids] = True
        self.calls: list[tuple[str, int | None]] = []

    def advance(self, token: int) -> None:
        self.calls.append(("advance", token))

    def mask(self) -> np.ndarray:
        self.calls.append(("mask", None))
        return self.row


def test_the_runner_masks_a_row_in_place_and_reports_masked_logprobs(llama_context: Any) -> None:
    tokenizer = llama_context.tokenizer
    allowed = sorted({tokenizer.encode(word, add_special_tokens=False)[0]
                      for word in (" Paris", " London", " Rome")})
    n_vocab = llama_context.backend_model.engine.n_vocab
    # a mask narrower than the vocabulary: the ids past its end are forbidden too
    constraint = AllowOnly(allowed, n_vocab - 8)
    params = GenerationParameters(logprobs=True, top_logprobs=3)
    control = GenerationControl(threading.Event(), max_tokens=1_000)
    prompt = tokenizer.encode("The capital of France is")
    runner = llama_context.backend_model.new_batch_runner()
    req = SequenceRequest(3, tuple(prompt), params, None, control, constraint)

    def job() -> list[Any]:
        runner.add(req)
        try:
            while not runner.prefill(3, 64):
                pass
            return [runner.step([3])[0] for _ in range(3)]
        finally:
            runner.remove(3)

    results = llama_context.worker.call(job)
    assert all(r.error is None for r in results), [r.error for r in results]
    tokens = [r.token for r in results]
    assert set(tokens) <= set(allowed)
    assert constraint.calls == [("mask", None), ("advance", tokens[0]), ("mask", None),
                                ("advance", tokens[1]), ("mask", None)]
    for r in results:  # normalized over the allowed tokens only, as mlx reports them
        assert r.top_logprobs is not None and {t for t, _ in r.top_logprobs} == set(allowed)
        assert r.top_logprobs[0] == (r.token, r.logprob)
        assert math.isclose(sum(math.exp(lp) for _, lp in r.top_logprobs), 1.0, rel_tol=1e-4)


def ask(name: str) -> list[dict[str, str]]:
    item = SCHEMAS[name]
    return [{"role": "user", "content": f"Reply with JSON only: {item['about']}. "
                                        f"JSON schema: {json.dumps(item['schema'])}"}]


def content(events: list[Any]) -> str:
    return "".join(e.text for e in events if type(e).__name__ == "Chunk" and e.channel == "content")


def test_schema_streams_validate_batched_with_an_unmasked_free_stream(
        llama_context: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    import jsonschema
    pytest.importorskip("llguidance")

    free = [{"role": "user", "content": "Name three colours."}]
    from lmstream_llama_cpp import runner as runner_module

    masked: list[object] = []
    constrain = runner_module.constrain_logits

    def recording(logits: Any, constraint: Any, fed: Any) -> None:
        masked.append(constraint)
        constrain(logits, constraint, fed)

    monkeypatch.setattr(runner_module, "constrain_logits", recording)
    engine = llama_context.backend_model.engine
    widths: list[int] = []
    decode = engine.decode

    def counting(items: Any) -> list[int]:
        widths.append(len(items))
        return decode(items)

    monkeypatch.setattr(engine, "decode", counting)
    names = ["color", "yesno"]
    gate = threading.Event()
    threading.Timer(30.0, gate.set).start()  # never hang, even if creating a stream waited on it
    llama_context.worker.submit(gate.wait)  # hold the worker: the three are admitted together
    try:
        streams = [llama_context.generate_stream(
            messages=ask(name), max_tokens=48, response_format={
                "type": "json_schema", "json_schema": {"name": name, "schema": SCHEMAS[name]["schema"]}})
            for name in names]
        streams.append(llama_context.generate_stream(messages=free, max_tokens=24))
    finally:
        gate.set()
    outputs = [list(stream) for stream in streams]
    assert max(widths) == 3  # all three sequences shared one llama_decode at least once
    for name, events in zip(names, outputs[:2], strict=True):
        info = events[-1]
        assert info.stop_reason == "stop", (name, content(events), info.error)
        jsonschema.validate(json.loads(content(events)), SCHEMAS[name]["schema"])
    # the unconstrained row is never masked: only the two schema rows' constraints were applied,
    # once per token each streamed (llama.cpp's arithmetic depends on the batch's layout, so
    # the free row's text is not compared with a lone run's)
    assert len({id(c) for c in masked}) == 2
    assert content(outputs[2]) and outputs[2][-1].stop_reason in ("stop", "length")


def test_the_one_row_path_masks_too(require_backend: Any) -> None:
    """``batching=False`` runs the runner with one row, which takes the constraint from the control."""
    import re

    import lmstream

    pytest.importorskip("llguidance")
    require_backend("llama_cpp")
    context = lmstream.load(backend="llama_cpp", batching=False, n_ctx=512, n_seq_max=1)
    try:
        phone = context.generate(messages=[{"role": "user", "content": "Give me a phone number."}],
                                 max_tokens=16, response_format={"type": "regex", "pattern": "[0-9]{3}-[0-9]{4}"})
    finally:
        context.close()
    assert phone.stop_reason == "stop" and re.fullmatch(r"[0-9]{3}-[0-9]{4}", phone.text), phone.text
