"""An agent conversation replayed over HTTP: what the prefix cache buys turn after turn.

A ~2,000-token system prompt with tool definitions, then ``--turns`` turns; each turn appends
an assistant tool call, the tool's result and a new user message (agent_conversation.py) and
streams one greedy chat completion. Per turn it prints the prompt tokens, the tokens served
from a cache and the time to first token (TTFT, client side), then the total wall time.

Sides (``--sides``), each a server subprocess on 127.0.0.1 (free port), all on the same
weights (the embedded default model; MLX-format weights converted from its GGUF for mlx-lm):

- ``llama_cpp``, ``mlx``: ``lmstream serve`` on that backend (prefix cache at its default
  budget); cached tokens from ``usage.prompt_tokens_details.cached_tokens``;
- ``mlx_lm.server`` (its LRU prompt cache, on by default) and ``llama_cpp.server``
  (llama-cpp-python's OpenAI server, ``--cache true --cache_type ram``): the peers, cached
  tokens from their usage where they report it. A peer that is not installed is skipped.

After the replay, for every lmstream side and every turn from 2 on, the yardstick is the
engine's own cost of that turn (agent_reference.py): the turn's new tokens (its prompt tokens
minus its cached tokens) prefilled ON TOP of its cached prefix, the first token sampled and
one decode step, on the same engine and settings without lmstream's server, scheduler or
worker (llama_cpp: llama-cpp-python direct in this process; mlx: lmstream's MLX batch runner
in this process). New tokens attend to the whole cached prefix, so this is what a perfect
cache could reach. The earlier yardstick is printed beside it for context ("empty"): as many
fresh random token ids over /v1/completions with ``max_tokens=2`` from an EMPTY context,
which leaves out the attention over the prefix and so understates the work (with a 2,200-token
prefix, by about half on llama.cpp on a 2-core CPU).

Goals (issue 21), printed as PASS/FAIL with the figures:
  1. from turn 2 on, >= 95% of each prompt served from the cache;
  2. turn-N TTFT <= 1.2 x the reference (prefill of the new tokens on top of the cached
     prefix + the first token + one decode step, in process);
  3. turn-N TTFT <= the peer's on the same weights (mlx vs mlx_lm.server, llama_cpp vs
     llama_cpp.server).

    python benchmarks/agent_replay.py                      # 8 turns, 2,000 tokens, all four sides
    python benchmarks/agent_replay.py --quick              # 3 turns, 400 tokens, llama_cpp + its peer
    python benchmarks/agent_replay.py --sides mlx,mlx_lm.server --turns 4
    python benchmarks/agent_replay.py --concurrent         # 8 agents, budget for 4 (agent_concurrent.py)

Timings depend on the machine's load: run it on a quiet machine and say the load.
Every wait is bounded; nothing leaves the loopback.
"""

from __future__ import annotations

import argparse
import importlib.util
import random
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

sys.path.insert(0, str(Path(__file__).parent))
from agent_conversation import Turn, chat_turn, lmstream_command, system_prompt, turn_messages
from server_load import free_port, start, stop

LMSTREAM_SIDES = ("llama_cpp", "mlx")
PEER_OF = {"llama_cpp": "llama_cpp.server", "mlx": "mlx_lm.server"}
ALL_SIDES = ("llama_cpp", "mlx", "llama_cpp.server", "mlx_lm.server")
CACHED_GOAL = 0.95
REFERENCE_FACTOR = 1.2


@dataclass
class Side:
    """One server to replay against, and what the replay measured on it."""

    name: str
    command: list[str]
    model: str
    port: int
    turns: list[Turn] = field(default_factory=list)
    reference_s: dict[int, float] = field(default_factory=dict)
    """Turn number -> seconds to prefill that turn's new tokens on top of its cached prefix,
    plus the first token and one decode step, in process (agent_reference.py)."""
    empty_s: dict[int, float] = field(default_factory=dict)
    """Turn number -> the same count of fresh tokens + one decode step from an empty context,
    over HTTP (the earlier yardstick, printed for context)."""
    conversation: list[list[dict[str, Any]]] = field(default_factory=list)
    """The messages each turn sent (the reference rebuilds their token ids)."""
    wall_s: float = 0.0
    skipped: str = ""


def peer_missing(name: str) -> str:
    """Why a peer cannot run here ('' when it can)."""
    modules = (("mlx_lm", "mlx.core") if name == "mlx_lm.server" else
               ("llama_cpp", "fastapi", "sse_starlette", "pydantic_settings", "starlette_context"))
    missing = [m for m in modules if importlib.util.find_spec(m.split(".")[0]) is None]
    return f"missing {', '.join(missing)} (pip install 'lmstream[bench]')" if missing else ""


def make_sides(names: list[str], args: argparse.Namespace, tmp: Path) -> list[Side]:
    """The servers of ``names``, in the order given (unknown names refused by argparse)."""
    from lmstream.backend import DEFAULT_NAME, default_model_path

    gguf = str(default_model_path())
    sides = []
    for name in names:
        port = free_port()
        if name in LMSTREAM_SIDES:
            sides.append(Side(f"lmstream/{name}", lmstream_command(name, port, DEFAULT_NAME, args),
                              DEFAULT_NAME, port))
            continue
        side = Side(name, [], DEFAULT_NAME, port, skipped=peer_missing(name))
        if not side.skipped and name == "mlx_lm.server":
            from lmstream_mlx.convert import gguf_to_mlx_lm

            converted = str(gguf_to_mlx_lm(gguf, tmp / "mlx-model"))
            side.model = converted
            side.command = [sys.executable, "-m", "mlx_lm.server", "--model", converted, "--host", "127.0.0.1",
                            "--port", str(port), "--log-level", "WARNING"]
        elif not side.skipped:
            from lmstream_llama_cpp.options import decode_threads, usable_cores

            # the same threads as lmstream's llama.cpp backend (its defaults count usable cores;
            # llama_cpp.server's count the machine's CPUs, which a container may not have)
            threads = ["--n_threads", str(decode_threads()), "--n_threads_batch", str(usable_cores())]
            side.command = [sys.executable, "-m", "llama_cpp.server", *threads, "--model", gguf, "--model_alias",
                            DEFAULT_NAME, "--host", "127.0.0.1", "--port", str(port), "--n_ctx",
                            str(args.n_ctx), "--cache", "true", "--cache_type", "ram", "--verbose", "false"]
        sides.append(side)
    return sides


def replay(side: Side, args: argparse.Namespace) -> None:
    """The whole conversation against one server; prints one line per turn."""
    base = f"http://127.0.0.1:{side.port}"
    messages: list[dict[str, Any]] = [{"role": "system", "content": system_prompt(args.system_tokens)}]
    with httpx.Client() as client:
        # one short unrelated request first: no server's one-time start-up costs land on turn 1
        warm = chat_turn(client, base, side.model, [{"role": "user", "content": "Say hi."}], 1, False,
                         args.timeout)
        if warm.error:
            print(f"{side.name:<18} warm-up failed: {warm.error}", flush=True)
        started = time.perf_counter()
        for n in range(1, args.turns + 1):
            messages += turn_messages(n, args.native_tools)
            side.conversation.append(list(messages))
            turn = chat_turn(client, base, side.model, messages, args.max_tokens, args.native_tools,
                             args.timeout)
            side.turns.append(turn)
            share = turn.cached_share
            print(f"{side.name:<18} turn {n}: prompt {turn.prompt_tokens:5d}  cached "
                  f"{turn.cached_tokens if turn.cached_tokens is not None else 'n/a':>5} "
                  f"({f'{100 * share:5.1f}%' if share is not None else '  n/a'})  "
                  f"TTFT {turn.ttft_s:7.3f} s {turn.error}", flush=True)
            if turn.error:
                break
    side.wall_s = time.perf_counter() - started
    print(f"{side.name:<18} total wall time {side.wall_s:.1f} s", flush=True)


def empty_reference(side: Side, args: argparse.Namespace) -> None:
    """Per turn from 2 on: seconds to prefill as many fresh random ids as that turn prefilled
    from an EMPTY context and decode one more token, over /v1/completions (context only)."""
    base = f"http://127.0.0.1:{side.port}"
    rng = random.Random(21)
    with httpx.Client() as client:
        for n, turn in enumerate(side.turns, start=1):
            if n == 1 or turn.error or turn.cached_tokens is None:
                continue
            new = max(1, turn.prompt_tokens - turn.cached_tokens)
            body = {"model": side.model, "prompt": [rng.randrange(1000, 30000) for _ in range(new)],
                    "max_tokens": 2, "temperature": 0}
            started = time.perf_counter()
            response = client.post(f"{base}/v1/completions", json=body, timeout=args.timeout)
            elapsed = time.perf_counter() - started
            if response.status_code == 200:
                side.empty_s[n] = elapsed


def reference(side: Side, args: argparse.Namespace) -> None:
    """Per turn from 2 on: the engine's own cost of the turn, in process (agent_reference.py);
    run with the server stopped, so both do not compete for the cores."""
    import agent_reference

    backend = side.name.removeprefix("lmstream/")
    conversations = [(n, side.conversation[n - 1], turn.prompt_tokens, turn.cached_tokens)
                     for n, turn in enumerate(side.turns, start=1)
                     if n > 1 and not turn.error and turn.cached_tokens is not None]
    if not conversations:
        return
    side.reference_s = agent_reference.measure(backend, conversations, args.n_ctx)
    for n, _, prompt_tokens, cached in conversations:
        if n in side.reference_s:
            empty = side.empty_s.get(n)
            print(f"{side.name:<18} reference turn {n}: {prompt_tokens - cached} new tokens on "
                  f"{cached} cached + 1 decode step {side.reference_s[n]:7.3f} s  (empty context, "
                  f"over HTTP: {f'{empty:.3f} s' if empty is not None else 'n/a'})  turn TTFT "
                  f"{side.turns[n - 1].ttft_s:.3f} s", flush=True)


def verdict(ok: bool) -> str:
    """PASS or FAIL."""
    return "PASS" if ok else "FAIL"


def goals(sides: list[Side]) -> None:
    """Print the issue's three goals for every lmstream side that ran."""
    by_name = {side.name: side for side in sides}
    print("\ngoals (turns 2..N):")
    for side in sides:
        backend = side.name.removeprefix("lmstream/")
        if backend not in LMSTREAM_SIDES or not side.turns:
            continue
        later = list(enumerate(side.turns, start=1))[1:]
        shares = [(n, t.cached_share) for n, t in later]
        low = [f"turn {n}: {'n/a' if s is None else f'{100 * s:.1f}%'}" for n, s in shares
               if s is None or s < CACHED_GOAL]
        print(f"  {side.name}: >= {CACHED_GOAL:.0%} cached: {verdict(bool(later) and not low)}"
              + (f" ({', '.join(low)})" if low else ""))
        ratios = [(n, t.ttft_s / side.reference_s[n]) for n, t in later if n in side.reference_s]
        over = [f"turn {n}: {r:.2f}x" for n, r in ratios if r > REFERENCE_FACTOR]
        worst = max((r for _, r in ratios), default=float("nan"))
        print(f"  {side.name}: TTFT <= {REFERENCE_FACTOR} x (new tokens on the cached prefix + 1 decode step): "
              f"{verdict(bool(ratios) and len(ratios) == len(later) and not over)} (worst {worst:.2f}x)"
              + (f" ({', '.join(over)})" if over else ""))
        peer = by_name.get(PEER_OF[backend])
        if peer is None or peer.skipped or not peer.turns:
            print(f"  {side.name}: TTFT <= {PEER_OF[backend]}: not run"
                  + (f" ({peer.skipped})" if peer is not None and peer.skipped else ""))
            continue
        pairs = [(n, t.ttft_s, peer.turns[n - 1].ttft_s) for n, t in later
                 if n <= len(peer.turns) and not peer.turns[n - 1].error]
        slower = [f"turn {n}: {ours:.3f} s vs {theirs:.3f} s" for n, ours, theirs in pairs if ours > theirs]
        print(f"  {side.name}: TTFT <= {peer.name}: {verdict(bool(pairs) and not slower)}"
              + (f" ({', '.join(slower)})" if slower else "")
              + f"; wall {side.wall_s:.1f} s vs {peer.wall_s:.1f} s")


def sides_arg(text: str) -> list[str]:
    """A comma-separated list of side names, checked."""
    names = [name for name in text.split(",") if name]
    unknown = [name for name in names if name not in ALL_SIDES]
    if unknown or not names:
        raise argparse.ArgumentTypeError(f"sides are {', '.join(ALL_SIDES)}; not {', '.join(unknown) or 'empty'}")
    return names


def parse(argv: list[str] | None = None) -> argparse.Namespace:
    """Command-line options; ``--quick`` fills in small defaults for what is not given."""
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n")[0])
    parser.add_argument("--sides", type=sides_arg, help=f"comma-separated, from {', '.join(ALL_SIDES)} "
                        "(default: all; --quick: llama_cpp,llama_cpp.server)")
    parser.add_argument("--turns", type=int, help="turns per conversation (default 8; --quick 3)")
    parser.add_argument("--system-tokens", type=int, help="system prompt size (default 2000; --quick 400)")
    parser.add_argument("--max-tokens", type=int, help="tokens generated per turn (default 16; --quick 4)")
    parser.add_argument("--quick", action="store_true", help="a small run: checks the harness end to end")
    parser.add_argument("--n-ctx", type=int, default=8192, help="llama.cpp context (both llama.cpp sides)")
    parser.add_argument("--native-tools", action="store_true",
                        help="send tools and tool_calls/tool messages through the API (the model's "
                             "template and tool parser must handle them) instead of plain text")
    parser.add_argument("--no-reference", action="store_true", help="skip the new-token prefill references")
    parser.add_argument("--timeout", type=float, default=900.0, help="seconds per request at most")
    parser.add_argument("--startup-timeout", type=float, default=300.0)
    parser.add_argument("--concurrent", action="store_true",
                        help="instead: concurrent agents with distinct system prompts under a budget "
                             "that holds only some of them (see agent_concurrent.py --help)")
    args, rest = parser.parse_known_args(argv)
    args.rest = rest
    quick = args.quick
    defaults = {"sides": ["llama_cpp", "llama_cpp.server"] if quick else list(ALL_SIDES),
                "turns": 3 if quick else 8, "system_tokens": 400 if quick else 2000,
                "max_tokens": 4 if quick else 16}
    for name, value in defaults.items():
        if getattr(args, name) is None:
            setattr(args, name, value)
    if args.turns < 1 or args.system_tokens < 0 or args.max_tokens < 1:
        parser.error("--turns and --max-tokens must be >= 1, --system-tokens >= 0")
    if rest and not args.concurrent:
        parser.error(f"unrecognized arguments: {' '.join(rest)}")
    return args


def main(argv: list[str] | None = None) -> int:
    """Replay against every side (one server at a time), then print the goals."""
    args = parse(argv)
    if args.concurrent:
        import agent_concurrent

        return agent_concurrent.main([*(["--quick"] if args.quick else []), *args.rest])
    with tempfile.TemporaryDirectory() as tmp:
        sides = make_sides(args.sides, args, Path(tmp))
        for side in sides:
            if side.skipped:
                print(f"{side.name}: skipped ({side.skipped})")
                continue
            try:
                process = start(side.command, side.port, args.startup_timeout)
            except (RuntimeError, TimeoutError) as exc:
                side.skipped = f"did not start: {exc}"
                print(f"{side.name}: {side.skipped}")
                continue
            ours = side.name.removeprefix("lmstream/") in LMSTREAM_SIDES and not args.no_reference
            try:
                replay(side, args)
                if ours:
                    empty_reference(side, args)
            finally:
                stop(process)
            if ours:
                reference(side, args)
    goals(sides)
    failed = [side.name for side in sides if any(turn.error for turn in side.turns)]
    if failed:
        print(f"errors on: {', '.join(failed)}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
