"""``lmstream generate PROMPT``: stream one answer to stdout."""

from __future__ import annotations

import argparse

from lmstream import StopReason, generate_task, get_plugin_system
from lmstream.cli import FAILED, INTERRUPTED, OK

from .arguments import generation_parameters, read_prompt, user_input
from .console import Console, error_text
from .loading import backend_line, named_observers, open_context, stats_observer
from .progress import PrefillProgress
from .streaming import run_stream


def run_generate(args: argparse.Namespace, console: Console) -> int:
    """Generate the answer to ``args.prompt``; the exit code says how it ended."""
    prompt = read_prompt(args.prompt)
    request = user_input(prompt, args.system, raw=args.raw)
    parameters = generation_parameters(args)
    stats = stats_observer(get_plugin_system()) if args.stats else None
    context = open_context(args, console)
    try:
        observers = named_observers(context, args.observers, *([stats] if stats is not None else []))
        progress = PrefillProgress(console)
        stream, _task = generate_task(request, parameters=parameters, context=context,
                                      observers=observers, on_prefill_progress=progress)
        info = run_stream(stream, console, progress=progress, json_mode=args.json)
    finally:
        context.close()
    if info is None:  # an EventStream always ends with its Info
        raise RuntimeError("the generation ended without an Info")
    if stats is not None:
        block = stats.format_block(info) + "\n" + backend_line(context)
        if args.json:
            console.note(block)  # stdout holds only JSON lines
        else:
            console.text("\n" + block + "\n")
    if info.stop_reason is StopReason.ERROR:
        console.error(f"generation failed: {error_text(info.error)}")
        return FAILED
    if info.stop_reason is StopReason.CANCELLED:
        return INTERRUPTED
    return OK
