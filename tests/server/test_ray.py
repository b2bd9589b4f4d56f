"""``lmstream_server.ray`` on a local Ray instance: 2 scripted replicas behind the same ASGI app,
driven by the official openai client over 127.0.0.1.

One Ray instance (2 CPUs, no dashboard, no Serve HTTP proxy) serves the whole module and is shut
down after it. Replicas load tests/server/ray_plugin.py (PYTHONPATH) for the section tool parser
and an observer that appends each generation's end to a file.
"""

from __future__ import annotations

import asyncio
import dataclasses
import json
import os
import re
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

import lmstream

ray = pytest.importorskip("ray")
serve = pytest.importorskip("ray.serve")
openai = pytest.importorskip("openai")
httpx = pytest.importorskip("httpx")
uvicorn = pytest.importorskip("uvicorn")

from lmstream_server import create_app  # noqa: E402
from lmstream_server.ray.launch import deploy  # noqa: E402
from lmstream_server.ray.replica import LoadSpec  # noqa: E402
from lmstream_server.ray.source import RaySource  # noqa: E402

from . import ray_plugin  # noqa: E402
from .conftest import WEATHER_TOOL, openai_client  # noqa: E402

HERE = Path(__file__).parent
OPTIONS: dict[str, Any] = {"reply": ray_plugin.reply_for, "tool_parser": "section", "token_delay": 0.02}
TIMEOUT = 120.0


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class Ingress:
    """uvicorn serving ``app`` on 127.0.0.1 in a thread, for the test module."""

    def __init__(self, app: Any) -> None:
        self.port = _free_port()
        self.server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=self.port, log_level="warning"))
        self.thread = threading.Thread(target=self.server.run, daemon=True)
        self.thread.start()
        deadline = time.monotonic() + 30
        while not self.server.started:
            if time.monotonic() > deadline:
                raise RuntimeError("uvicorn did not start")
            time.sleep(0.05)
        self.base = f"http://127.0.0.1:{self.port}"

    def stop(self) -> None:
        self.server.should_exit = True
        self.thread.join(30)


class Cluster:
    """The Ray instance, the replicas' handle, the source, the ingress and the ends file."""

    def __init__(self, tmp: Path) -> None:
        self.ends = tmp / "ends.txt"
        self.ends.touch()
        os.environ[ray_plugin.ENDS_ENV] = str(self.ends)
        ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False, _node_ip_address="127.0.0.1",
                 runtime_env={"env_vars": {"PYTHONPATH": f"{HERE}:{HERE.parent.parent}",
                                           ray_plugin.ENDS_ENV: str(self.ends)}})
        spec = LoadSpec(backend="scripted", options=OPTIONS, plugins=["ray_plugin:TestPlugin"])
        self.handle = deploy(spec, replicas=2, num_cpus=0.5)
        lmstream.register_plugin(ray_plugin.TestPlugin(), name="ray-test-plugin")
        self.context = lmstream.load(backend="scripted", **OPTIONS)
        self.source = RaySource(self.handle, open_timeout_s=TIMEOUT)
        self.app = create_app(self.context, sources={"scripted": self.source})
        self.ingress = Ingress(self.app)
        self.client = openai.OpenAI(base_url=f"{self.ingress.base}/v1", api_key="unused", max_retries=0,
                                    timeout=TIMEOUT)

    def close(self) -> None:
        self.ingress.stop()
        self.context.close()
        serve.shutdown()
        ray.shutdown()
        os.environ.pop(ray_plugin.ENDS_ENV, None)

    def metrics(self) -> dict[tuple[str, str], float]:
        """``(series name, labels)`` -> value of the ingress's /metrics."""
        text = httpx.get(f"{self.ingress.base}/metrics", timeout=TIMEOUT).text
        values = {}
        for line in text.splitlines():
            match = re.match(r"^(\w+)(\{[^}]*\})? ([-\d.e+]+)$", line)
            if match:
                values[(match[1], match[2] or "")] = float(match[3])
        return values


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cluster]:
    started = Cluster(tmp_path_factory.mktemp("ray"))
    try:
        yield started
    finally:
        started.close()


def _chat_deltas(client: Any, **request: Any) -> tuple[list[str], list[tuple[Any, ...]], list[str | None]]:
    """Content deltas, tool-call deltas ``(index, id, name, arguments)`` and finish reasons of a stream."""
    content, calls, finishes = [], [], []
    for chunk in client.chat.completions.create(model="scripted", stream=True, **request):
        for choice in chunk.choices:
            if choice.delta.content:
                content.append(choice.delta.content)
            for call in choice.delta.tool_calls or []:
                calls.append((call.index, call.id, call.function.name if call.function else None,
                              call.function.arguments if call.function else None))
            finishes.append(choice.finish_reason)
    return content, calls, finishes


async def _local_deltas(**request: Any) -> tuple[list[str], list[tuple[Any, ...]], list[str | None]]:
    context = lmstream.load(backend="scripted", **OPTIONS)
    try:
        client = openai_client(create_app(context))
        content, calls, finishes = [], [], []
        async for chunk in await client.chat.completions.create(model="scripted", stream=True, **request):
            for choice in chunk.choices:
                if choice.delta.content:
                    content.append(choice.delta.content)
                for call in choice.delta.tool_calls or []:
                    calls.append((call.index, call.id, call.function.name if call.function else None,
                                  call.function.arguments if call.function else None))
                finishes.append(choice.finish_reason)
        return content, calls, finishes
    finally:
        context.close()


def test_streamed_text_and_tool_deltas_match_the_single_process_server(cluster: Cluster) -> None:
    user = [{"role": "user", "content": "Weather in Paris?"}]
    for request in ({"messages": user}, {"messages": user, "tools": [WEATHER_TOOL]}):
        remote = _chat_deltas(cluster.client, **request)
        local = asyncio.run(_local_deltas(**request))
        assert remote == local
    content, calls, finishes = remote
    assert "".join(content) == "Sure." and finishes[-1] == "tool_calls"
    assert len(calls) > 5 and json.loads("".join(c[3] or "" for c in calls)) == {"city": "Paris", "days": 3}


def test_a_prompt_too_long_for_the_replica_is_the_same_400(cluster: Cluster) -> None:
    with pytest.raises(openai.BadRequestError) as caught:
        cluster.client.chat.completions.create(model="scripted", messages=[{"role": "user", "content": "x" * 5000}])
    assert caught.value.code == "context_length_exceeded"


def _affinity(cluster: Cluster) -> dict[str, float]:
    """Requests by prefix-routing outcome (same / moved / new), summed over replicas."""
    totals: dict[str, float] = {}
    for (name, labels), value in cluster.metrics().items():
        if name == "lmstream_server_replica_prefix_routing_total":
            outcome = re.search(r'outcome="(\w+)"', labels)
            assert outcome is not None
            totals[outcome[1]] = totals.get(outcome[1], 0) + value
    return totals


def test_prefix_routing_keeps_each_conversation_on_one_replica(cluster: Cluster) -> None:
    before = _affinity(cluster)
    conversations = [[{"role": "system", "content": f"You are assistant number {n}. " * 4}] for n in range(3)]
    for turn in range(3):
        for messages in conversations:
            messages.append({"role": "user", "content": f"Question {turn}: what about the weather?"})
            reply = cluster.client.chat.completions.create(model="scripted", messages=messages)
            messages.append({"role": "assistant", "content": reply.choices[0].message.content})
    after = _affinity(cluster)
    # every follow-up turn (2 per conversation) went to the replica that served its prefix;
    # random routing over 2 replicas would do that with probability 1/64
    assert after.get("same", 0) - before.get("same", 0) == 6
    assert after.get("new", 0) - before.get("new", 0) == 3
    assert after.get("moved", 0) == before.get("moved", 0)
    replicas = {labels for (name, labels) in cluster.metrics() if name == "lmstream_server_replica_generated_tokens_total"}
    assert len(replicas) == 2  # per-replica series: both replicas served (least-loaded first turns)


def test_prefix_routing_gives_each_turn_a_prefix_cache_hit_with_two_replicas(cluster: Cluster) -> None:
    conversations = [[{"role": "system", "content": f"Agent {n} of the hit-rate test, with tools. " * 6}]
                     for n in range(4)]
    prompt_tokens = cached_tokens = later_turns = hits = 0
    last = [0] * len(conversations)  # each conversation's previous prompt, in tokens
    for turn in range(3):
        for n, messages in enumerate(conversations):
            messages.append({"role": "user", "content": f"Question {turn}: and the weather?"})
            reply = cluster.client.chat.completions.create(model="scripted", messages=messages)
            messages.append({"role": "assistant", "content": reply.choices[0].message.content})
            usage = reply.usage
            assert usage is not None and usage.prompt_tokens_details is not None
            cached = usage.prompt_tokens_details.cached_tokens or 0
            if turn:
                later_turns += 1
                prompt_tokens += usage.prompt_tokens
                cached_tokens += cached
                hits += cached >= last[n]  # the whole previous prompt at least
            last[n] = usage.prompt_tokens
    print(f"2 replicas, 4 conversations: {hits}/{later_turns} later turns hit the whole previous prompt; "
          f"{cached_tokens}/{prompt_tokens} of their prompt tokens cached")
    # with the conversations spread over 2 replicas at random, a turn would land where its
    # previous turn did half of the time (8 turns: all of them with probability 1/256)
    assert hits == later_turns == 8


def test_prompt_cache_key_keeps_a_named_conversation_on_one_replica(cluster: Cluster) -> None:
    seen = len(_ends(cluster))
    opened = 0

    async def replicas(key: str | None) -> list[str]:
        """Where 3 generations go when each is still running as the next one is routed
        (least-loaded routing alone spreads them over both replicas)."""
        nonlocal opened
        streams = []
        try:
            for n in range(3):  # prompts that share no prefix: only the key ties them together
                lm_input = cluster.context.prepare(lmstream.UserInput(messages=[
                    {"role": "user", "content": f"a long answer on topic {n}: " + chr(ord("a") + n) * 200}]))
                if key is not None:
                    lm_input = dataclasses.replace(lm_input, metadata={**lm_input.metadata, "prompt_cache_key": key})
                streams.append(await cluster.source.open(lm_input, lmstream.GenerationParameters(max_tokens=5000)))
        finally:
            opened += len(streams)
            for stream in streams:
                stream.cancel()
        return [stream.replica for stream in streams]

    for _ in range(10):  # until the handle knows both replicas (it learns of them after start-up)
        unnamed = asyncio.run(replicas(None))
        if len(set(unnamed)) == 2:
            break
    assert len(set(unnamed)) == 2  # without a key: spread by load
    named = asyncio.run(replicas("thread-7"))
    print(f"prompt_cache_key thread-7 -> {named}; no key -> {unnamed}")
    assert len(set(named)) == 1  # with one: together, though the loads differ by up to 2
    deadline = time.monotonic() + TIMEOUT  # every cancelled generation ended before the next test
    while len(_ends(cluster)) < seen + opened and time.monotonic() < deadline:
        time.sleep(0.1)


def _ends(cluster: Cluster) -> list[tuple[str, int]]:
    lines = cluster.ends.read_text().split("\n")
    return [(parts[1], int(parts[2])) for parts in (line.split() for line in lines) if len(parts) == 3]


def test_disconnect_cancels_the_generation_in_the_replica(cluster: Cluster) -> None:
    seen = len(_ends(cluster))
    body = {"model": "scripted", "stream": True, "messages": [{"role": "user", "content": "a long answer"}]}
    read = 0
    with httpx.stream("POST", f"{cluster.ingress.base}/v1/chat/completions", json=body, timeout=TIMEOUT) as response:
        for line in response.iter_lines():
            read += line.startswith("data: ")
            if read == 5:
                break
    started = time.monotonic()
    while time.monotonic() - started < TIMEOUT:
        ends = _ends(cluster)[seen:]
        if ends:
            break
        time.sleep(0.1)
    assert ends, "the replica's generation did not end after the client left"
    reason, tokens = ends[0]
    print(f"client read {read} chunks; the replica's generation ended {reason} after {tokens} tokens")
    # the reply is 2000 words (10000 bytes, cut per token); it stopped far before its end
    assert reason == "cancelled" and tokens < 1000, ends


async def _two_streams_on_two_replicas(source: RaySource, context: lmstream.ModelContext) -> list[Any]:
    streams: list[Any] = []
    for attempt in range(6):
        lm_input = context.prepare(lmstream.UserInput(messages=[
            {"role": "user", "content": f"long story {attempt}: " + "x" * 40 * attempt}]))
        streams.append(await source.open(lm_input, lmstream.GenerationParameters(max_tokens=5000)))
        if len({stream.replica for stream in streams}) == 2:
            break
    return streams


def test_a_replica_dying_mid_stream_ends_only_its_streams(cluster: Cluster) -> None:
    async def scenario() -> tuple[list[Any], list[Any], int]:
        streams = await _two_streams_on_two_replicas(cluster.source, cluster.context)
        victim = streams[0].replica
        assert {stream.replica for stream in streams} == {victim, streams[-1].replica} and victim != streams[-1].replica
        iterators = [aiter(stream) for stream in streams]
        for iterator in iterators:
            await asyncio.wait_for(anext(iterator), TIMEOUT)
        ray.kill(ray.get_actor(streams[0].actor_name, namespace="serve"), no_restart=False)
        doomed, survivors = [], []
        for stream, iterator in zip(streams, iterators, strict=True):
            if stream.replica == victim:
                events = [event async for event in iterator]
                doomed.append(events[-1])
            else:
                survivors.append(iterator)
        more = 0
        for iterator in survivors:
            for _ in range(20):
                event = await asyncio.wait_for(anext(iterator), TIMEOUT)
                assert not isinstance(event, lmstream.Info), event
                more += 1
        for stream in streams:
            stream.cancel()
        return doomed, survivors, more

    doomed, survivors, more = asyncio.run(scenario())
    assert doomed and all(info.stop_reason == "error" and "failed mid-stream" in str(info.error) for info in doomed)
    assert survivors and more == 20 * len(survivors)
    deadline = time.monotonic() + TIMEOUT
    while time.monotonic() < deadline:  # Serve replaces the dead replica
        status = serve.status().applications["lmstream"].deployments["LMReplica"]
        if status.replica_states.get("RUNNING", 0) == 2:
            break
        time.sleep(1)
    assert status.replica_states.get("RUNNING", 0) == 2, status
    # no tools declared: the reply's call section is text (calls are parsed only for declared tools)
    assert cluster.client.chat.completions.create(
        model="scripted", messages=[{"role": "user", "content": "Again?"}]).choices[0].message.content.startswith("Sure.")


@pytest.mark.slow
def test_a_default_model_replica_answers_paris(cluster: Cluster) -> None:
    handle = deploy(LoadSpec(), app_name="default-model", replicas=1, num_cpus=0.5)
    context = lmstream.load()
    try:
        async def ask() -> str:
            client = openai_client(create_app(context, sources={context.info.name: RaySource(handle)}))
            stream = await client.chat.completions.create(
                model=context.info.name, max_tokens=8, temperature=0, stream=True,
                messages=[{"role": "user", "content": "What is the capital of France? Answer in one word."}])
            return "".join([c.choices[0].delta.content or "" async for c in stream if c.choices])

        assert "Paris" in asyncio.run(ask())
    finally:
        context.close()
        serve.delete("default-model")
