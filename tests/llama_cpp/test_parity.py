"""Greedy output equals llama-cpp-python's own ``Llama.create_completion(temperature=0)`` on the
same GGUF and prompt, token for token (64 tokens), through lmstream's full pipeline.

Slow: two real decodes of 64 tokens (about a second each with llama.cpp on a CPU).
"""

from __future__ import annotations

from typing import Any

import pytest

import lmstream

pytestmark = pytest.mark.slow

PROMPT = "The history of Paris begins"
TOKENS = 64


@pytest.fixture(scope="module")
def reference(llama_context: Any) -> Any:
    """llama-cpp-python's high-level Llama on the same file, threads and batch size."""
    from llama_cpp import Llama

    options = llama_context.backend_model.options
    llm = Llama(model_path=str(llama_context.info.path), n_ctx=512, n_batch=options.n_batch,
                n_threads=options.threads, n_threads_batch=options.threads_batch, verbose=False)
    yield llm
    llm.close()


def test_greedy_64_tokens_equal_llama_cpp_python(llama_context: Any, reference: Any) -> None:
    prompt = llama_context.tokenizer.encode(PROMPT)
    assert prompt == reference.tokenize(PROMPT.encode(), add_bos=True, special=True)
    theirs = reference.create_completion(prompt, max_tokens=TOKENS, temperature=0.0)
    assert theirs["usage"]["completion_tokens"] == TOKENS
    # create_completion returns text; the generator under it gives the ids themselves
    their_ids: list[int] = []
    for token in reference.generate(prompt, temp=0.0, reset=True):
        their_ids.append(token)
        if len(their_ids) == TOKENS:
            break
    events = list(lmstream.generate_tokens(lmstream.LMInput(tokens=tuple(prompt)),
                                           context=llama_context,
                                           parameters={"max_tokens": TOKENS, "temperature": 0.0}))
    ours = [e.id for e in events if isinstance(e, lmstream.Token)]
    assert events[-1].stop_reason is lmstream.StopReason.LENGTH
    assert ours == their_ids
    assert llama_context.tokenizer.decode(ours) == theirs["choices"][0]["text"]
