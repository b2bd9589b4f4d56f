"""Speculative decoding on the default model: prompt lookup on vs off, and draft-model mechanics.

Side by side in one run, on each backend (``--backends mlx,llama_cpp``), one context per
backend loaded with ``drafter="prompt_lookup"``; "off" is the same context with
``speculative=False`` per request, so both sides share weights, threads and caches (the
prefix cache is off: every run prefills). Sides alternate, ``--rounds`` times; the best run
of each side counts. Greedy, ``--max-tokens`` new tokens per stream:

- ``code edit``: rewrite a ~300-token Python snippet with one change (input-grounded);
- ``quote tool``: answer by quoting a tool result (input-grounded);
- ``free chat``: a short story (nothing to copy: drafting must not slow it down).

For 1 and 8 concurrent streams (``--streams``) it prints the aggregate decode tok/s off and
on (the streams' decode rates summed, prefill excluded) and their ratio, the ratio over the
wall time (prefill included), and the acceptance rate (accepted / proposed draft tokens, from ``Info.stats``), with
the machine's load average (``os.getloadavg()``) before each table: figures taken on a loaded
machine are not comparable with a quiet one. ``--trace`` adds, under each row, what the runner
was asked on each side: plain ``step`` calls and ``verify`` calls, rows per call, draft tokens
verified, and the process CPU seconds per call (CPU time is steadier than the wall clock on a
shared machine; the ratio of CPU per generated token compares the sides).

Then the draft-model mechanics with draft = target (the only model here): the runner's cost
of one ``step`` against one ``verify`` of k drafts (k + 1 tokens in one pass), the cost of
one draft proposal of k tokens, the acceptance on the code-edit task through
``drafter="draft_model"``, and from the measured costs the expected gain of a real small
drafter (a given fraction of the target's step cost) at typical acceptance rates.

    python benchmarks/speculative.py [--quick] [--backends mlx,llama_cpp] [--streams 1,8]
        [--max-tokens 160] [--rounds 2] [--trace]
"""

from __future__ import annotations

import argparse
import os
import statistics
import threading
import time
from typing import Any

CODE = '''def parse_config(path):
    """Read a simple KEY=VALUE config file into a dict, skipping comments and blank lines."""
    settings = {}
    with open(path, encoding="utf-8") as handle:
        for number, line in enumerate(handle, start=1):
            line = line.strip()
            if not line or line.startswith("#"):
                continue
            if "=" not in line:
                raise ValueError(f"line {number}: expected KEY=VALUE, got {line!r}")
            key, value = line.split("=", 1)
            key = key.strip().lower()
            value = value.strip()
            if value.isdigit():
                value = int(value)
            elif value.lower() in ("true", "false"):
                value = value.lower() == "true"
            settings[key] = value
    return settings


def merge_configs(base, override):
    """Return a new dict with the keys of override replacing those of base."""
    merged = dict(base)
    for key, value in override.items():
        merged[key] = value
    return merged


def main():
    defaults = parse_config("defaults.cfg")
    local = parse_config("local.cfg")
    config = merge_configs(defaults, local)
    for key in sorted(config):
        print(f"{key} = {config[key]}")
'''

TOOL_RESULT = ('{"city": "Lisbon", "date": "2026-03-14", "forecast": "Sunny in the morning, clouds '
               'building after 2 pm, a 30% chance of light rain in the evening.", "high_c": 19, '
               '"low_c": 11, "wind": "north-west, 15 km/h, gusts up to 30 km/h", "advice": "Take a '
               'light jacket for the evening; no umbrella needed before 6 pm."}')

TASKS = {
    "code edit": "Rewrite this code with one change: rename the function parse_config to "
                 "read_config everywhere. Output the whole code and nothing else.\n\n" + CODE,
    "quote tool": "I called the weather tool and it returned:\n\n" + TOOL_RESULT + "\n\nAnswer by "
                  "quoting the tool result's forecast and advice fields exactly, word for word.",
    "free chat": "Write a short story about a lighthouse keeper who finds a message in a bottle.",
}


def load_line() -> str:
    """The machine's 1/5/15-minute load averages and CPU count."""
    one, five, fifteen = os.getloadavg()
    return f"load average {one:.2f} {five:.2f} {fifteen:.2f} on {os.cpu_count()} CPUs"


def prompt_of(context: Any, text: str) -> tuple[int, ...]:
    """The chat prompt of one user message, as token ids."""
    import lmstream

    return tuple(context.prepare(lmstream.UserInput(messages=[{"role": "user", "content": text}])).tokens)


def run_streams(context: Any, prompt: tuple[int, ...], streams: int, max_tokens: int,
                speculative: bool) -> tuple[float, float, int, int]:
    """``streams`` concurrent greedy generations of ``prompt``: aggregate decode tok/s (the sum
    of the streams' ``decode_tps``: prefill excluded), aggregate tok/s over the wall time
    (prefill included), draft tokens proposed and accepted."""
    import lmstream

    stats: list[Any] = [None] * streams
    errors: list[BaseException] = []
    parameters = {"max_tokens": max_tokens, "temperature": 0.0, "speculative": speculative}

    def consume(index: int) -> None:
        for event in lmstream.generate(lmstream.LMInput(tokens=prompt), context=context,
                                       parameters=parameters):
            if isinstance(event, lmstream.Info):
                if event.error is not None:
                    errors.append(event.error)
                stats[index] = event.stats

    threads = [threading.Thread(target=consume, args=(i,)) for i in range(streams)]
    start = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    elapsed = time.perf_counter() - start
    if errors:
        raise errors[0]
    tokens = sum(s.generated_tokens for s in stats)
    proposed = sum(s.draft_tokens_proposed for s in stats)
    accepted = sum(s.draft_tokens_accepted for s in stats)
    return sum(s.decode_tps for s in stats), tokens / elapsed, proposed, accepted


class CallTrace:
    """Counts the backend runner's ``step`` and ``verify`` calls under the speculation wrapper:
    calls, rows, draft tokens verified and process CPU seconds per kind (``--trace``)."""

    def __init__(self, context: Any) -> None:
        self.runner = getattr(context.scheduler._backend_lane.runner, "inner", None)
        self.calls: dict[str, list[float]] = {}
        if self.runner is not None:
            for kind in ("step", "verify"):
                setattr(self.runner, kind, self._wrap(kind, getattr(self.runner, kind)))

    def _wrap(self, kind: str, function: Any) -> Any:
        def traced(seq_ids: Any, *rest: Any) -> Any:
            began = time.process_time()
            result = function(seq_ids, *rest)
            drafts = sum(len(d) for d in rest[0]) if rest else 0
            totals = self.calls.setdefault(kind, [0, 0, 0, 0.0])
            for index, value in enumerate((1, len(seq_ids), drafts, time.process_time() - began)):
                totals[index] += value
            return result
        return traced

    def take(self) -> str:
        """The calls since the last ``take``, one line."""
        parts = []
        for kind, (calls, rows, drafts, cpu) in sorted(self.calls.items()):
            parts.append(f"{kind} {int(calls)} calls, {rows / calls:.1f} rows, {int(drafts)} drafts, "
                         f"{cpu / calls * 1000:.0f} ms CPU a call")
        self.calls.clear()
        return "; ".join(parts) or "no calls"


def prompt_lookup_table(backend: str, args: argparse.Namespace) -> None:
    """Prompt lookup on vs off on every task and stream count (module docstring)."""
    import lmstream

    context = lmstream.load(backend=backend, drafter="prompt_lookup", prefix_cache_bytes=0)
    trace = CallTrace(context) if args.trace else None
    try:
        print(f"\n## {backend}: prompt_lookup on vs off, greedy, {args.max_tokens} tokens per stream")
        print(load_line())
        print("decode tok/s: the streams' decode rates summed (prefill excluded); wall: tokens over "
              "the wall time, prefill included")
        print(f"{'task':<11} {'streams':>7} {'off tok/s':>10} {'on tok/s':>10} {'ratio':>6} "
              f"{'wall ratio':>10} {'accepted':>9} {'proposed':>9} {'rate':>6}")
        for task, text in TASKS.items():
            prompt = prompt_of(context, text)
            for streams in args.streams:
                best = {False: 0.0, True: 0.0}
                wall = {False: 0.0, True: 0.0}
                drafts = (0, 0)
                traces: list[str] = []
                for _ in range(args.rounds):
                    for speculative in (False, True):  # alternating sides
                        cpu = time.process_time()
                        rate, overall, proposed, accepted = run_streams(context, prompt, streams,
                                                                        args.max_tokens, speculative)
                        if trace is not None:
                            traces.append(f"    {'on ' if speculative else 'off'}: {trace.take()}; "
                                          f"run {time.process_time() - cpu:.2f} s CPU")
                        best[speculative] = max(best[speculative], rate)
                        wall[speculative] = max(wall[speculative], overall)
                        if speculative:
                            drafts = (drafts[0] + proposed, drafts[1] + accepted)
                share = drafts[1] / drafts[0] if drafts[0] else 0.0
                print(f"{task:<11} {streams:>7} {best[False]:>10.1f} {best[True]:>10.1f} "
                      f"{best[True] / best[False]:>5.2f}x {wall[True] / wall[False]:>9.2f}x "
                      f"{drafts[1]:>9} {drafts[0]:>9} {share:>6.0%}")
                for line in traces:
                    print(line)
        print(load_line())
    finally:
        context.close()


def step_costs(context: Any, prompt: tuple[int, ...], tokens: int, k: int) -> tuple[float, float, float]:
    """On the runner directly, alternating call by call (so load swings hit both alike): the
    median seconds of one ``step`` (1 token) and of one ``verify`` of ``k`` drafts that all
    agree (k + 1 tokens in one pass), and the tokens a verify call gave on average."""
    from lmstream.model import GenerationControl, SequenceRequest
    from lmstream.protocol import GenerationParameters

    parameters = GenerationParameters(temperature=0.0)

    def job() -> tuple[float, float, float]:
        runner = context.backend_model.new_batch_runner()
        try:
            for seq_id in (0, 1, 2):
                runner.add(SequenceRequest(seq_id, prompt, parameters, None,
                                           GenerationControl(threading.Event())))
                while not runner.prefill(seq_id, 512):
                    pass
                runner.step([seq_id])  # the first token (sampled at prefill on llama.cpp)
            reference = [runner.step([2])[0].token for _ in range(tokens + k + 1)]
            runner.remove(2)
            steps: list[float] = []
            verifies: list[float] = []
            done = 0
            while done + k + 1 <= tokens:
                began = time.perf_counter()
                runner.step([0])
                middle = time.perf_counter()
                (result,) = runner.verify([1], [reference[done:done + k]])
                verifies.append(time.perf_counter() - middle)
                steps.append(middle - began)
                done += len(result.accepted) + 1
            return statistics.median(steps), statistics.median(verifies), done / max(len(verifies), 1)
        finally:
            runner.close()

    result: tuple[float, float, float] = context.worker.call(job)
    return result


def propose_cost(context: Any, prompt: tuple[int, ...], k: int, repeats: int) -> float:
    """Seconds per ``propose`` of ``k`` tokens by a draft-model drafter with draft = target
    (after the first proposal, which prefills the prompt), every proposal accepted."""
    from lmstream_drafters.draft_model import DraftModelDrafter

    drafter = context.worker.call(DraftModelDrafter.load, context.backend_model, None, k)

    def job() -> float:
        state = drafter.start(prompt, None)
        tokens = list(prompt)
        tokens.extend(state.propose(tokens, k))
        state.feedback(k, k)
        began = time.perf_counter()
        for _ in range(repeats):
            tokens.extend(state.propose(tokens, k))
            state.feedback(k, k)
        state.close()
        return (time.perf_counter() - began) / repeats

    try:
        result: float = context.worker.call(job)
    finally:
        context.worker.call(drafter.close)
    return result


def expected_speedup(alpha: float, k: int, step: float, verify: float, draft_step: float) -> float:
    """Tokens per second with drafts over without: a cycle proposes ``k`` tokens (``k`` draft
    steps), verifies them in one pass and yields ``(1 - alpha**(k+1)) / (1 - alpha)`` tokens
    when each draft is accepted with probability ``alpha`` (the standard estimate)."""
    tokens = (1 - alpha ** (k + 1)) / (1 - alpha) if alpha < 1 else k + 1
    return tokens * step / (k * draft_step + verify)


def draft_model_table(backend: str, args: argparse.Namespace) -> None:
    """Draft-model mechanics with draft = target (module docstring)."""
    import lmstream

    k = args.draft_tokens
    context = lmstream.load(backend=backend, drafter="draft_model", draft_max_tokens=k,
                            prefix_cache_bytes=0)
    try:
        print(f"\n## {backend}: draft_model mechanics (draft = target, the default model), k = {k}")
        print(load_line())
        prompt = prompt_of(context, TASKS["code edit"])
        step, verify, per_call = step_costs(context, prompt, args.max_tokens, k)
        draft = propose_cost(context, prompt, k, args.repeats)
        print(f"target step {step * 1000:.2f} ms/token; verify of {k} drafts {verify * 1000:.2f} ms "
              f"({per_call:.1f} tokens a call: {verify / step:.2f}x a step for {k + 1} tokens); "
              f"draft proposal of {k} tokens {draft * 1000:.2f} ms")
        ratio = verify / step
        if ratio > 1:  # cost = call + positions: (call + k + 1) / (call + 1) = ratio
            print(f"a call costs about {(k + 1 - ratio) / (ratio - 1):.1f} positions beyond the ones it "
                  "feeds, for one row, if a call's cost were linear in its positions (the backends' "
                  "verify_cost weighs calls for the speculation rule: MLX's numpy path by "
                  "lmstream_mlx.verify.call_cost, which is not linear)")
        rate_off, _, _, _ = run_streams(context, prompt, 1, args.max_tokens, False)
        rate_on, _, proposed, accepted = run_streams(context, prompt, 1, args.max_tokens, True)
        share = accepted / proposed if proposed else 0.0
        print(f"code edit, 1 stream, decode: off {rate_off:.1f} tok/s, on {rate_on:.1f} tok/s "
              f"({rate_on / rate_off:.2f}x with draft = target), accepted {accepted}/{proposed} ({share:.0%})")
        per_draft_token = draft / k
        print("expected gain of a small drafter, from these costs (draft step as a fraction of the "
              "target's step):")
        for fraction in (per_draft_token / step, 0.25, 0.1):
            gains = ", ".join(f"acceptance {a:.0%}: {expected_speedup(a, k, step, verify, fraction * step):.2f}x"
                              for a in (0.5, 0.7, 0.9))
            label = "measured (draft = target)" if fraction == per_draft_token / step else f"{fraction:.2f}"
            print(f"  draft step {label:<25} {gains}")
        print(load_line())
    finally:
        context.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="small settings (a smoke run)")
    parser.add_argument("--backends", default="mlx,llama_cpp")
    parser.add_argument("--streams", help="concurrent streams to compare (default 1,8; quick 1,2)")
    parser.add_argument("--max-tokens", type=int, help="tokens per stream (default 160; quick 32)")
    parser.add_argument("--rounds", type=int, help="alternating rounds per side (default 2; quick 1)")
    parser.add_argument("--draft-tokens", type=int, default=4)
    parser.add_argument("--repeats", type=int, help="draft proposals timed (default 8; quick 3)")
    parser.add_argument("--trace", action="store_true",
                        help="print the runner's step/verify calls and CPU time per run")
    parser.add_argument("--skip", default="", help="comma list: prompt_lookup, draft_model")
    args = parser.parse_args()
    defaults = {"streams": ("1,8", "1,2"), "max_tokens": (160, 32), "rounds": (2, 1), "repeats": (8, 3)}
    for name, (full, quick) in defaults.items():
        if getattr(args, name) is None:
            setattr(args, name, quick if args.quick else full)
    args.streams = [int(s) for s in str(args.streams).split(",") if s]
    skip = set(args.skip.split(","))
    print(f"speculative decoding benchmark; {load_line()}")
    for backend in [b for b in args.backends.split(",") if b]:
        if "prompt_lookup" not in skip:
            prompt_lookup_table(backend, args)
        if "draft_model" not in skip:
            draft_model_table(backend, args)


if __name__ == "__main__":
    main()
