"""The built-in commands' arguments (argparse: stdlib, no dependency) and turning them into
lmstream inputs: load options, GenerationParameters, the prompt."""

from __future__ import annotations

import argparse
import sys
from typing import Any

from lmstream import ChatMessage, GenerationParameters, UserInput
from lmstream.cli import UsageError
from lmstream.plugin import parse_option

from .structured_args import add_structured_options, structured_values

SAMPLING_OPTIONS: tuple[tuple[str, str], ...] = (
    ("max_tokens", "max_tokens"),
    ("temperature", "temperature"),
    ("top_p", "top_p"),
    ("top_k", "top_k"),
    ("min_p", "min_p"),
    ("seed", "seed"),
    ("tool_parser", "tool_parser"),
    ("prefill_step_size", "prefill_step_size"),
    ("max_kv_size", "max_kv_size"),
)
"""(argparse dest, GenerationParameters field) of the options passed through when given."""


def _model_options(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("model")
    group.add_argument("--model", "-m", help="model path or name (default: the backend's embedded default model)")
    group.add_argument("--backend", "-b", help="backend name (default: auto, the fastest installed one for this machine: "
                            "llama_cpp on a CPU-only machine, mlx with Metal or CUDA); see `lmstream plugins`")
    group.add_argument("--option", "-o", dest="options", action="append", type=parse_option, default=[],
                       metavar="KEY=VALUE",
                       help="backend load option, repeatable; VALUE is JSON when it parses as JSON "
                            "(e.g. --backend scripted --option reply='\"hi\"' --option token_delay=0.05)")
    group.add_argument("--template", help="chat template: a registered name, a template string or a file path")
    group.add_argument("--draft", metavar="NAME",
                       help="speculative decoding with the registered drafter NAME (e.g. prompt_lookup, "
                            "or draft_model with -o draft_model=PATH); draft options are -o draft_*=VALUE")


def _sampling_options(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("generation")
    group.add_argument("--max-tokens", "-n", type=int, help="tokens to generate at most (default: 256)")
    group.add_argument("--temperature", "-t", type=float, help="sampling temperature; 0 is greedy (default: 0)")
    group.add_argument("--top-p", type=float, help="nucleus sampling threshold (default: 1.0)")
    group.add_argument("--top-k", type=int, help="sample from the k most likely tokens; 0 disables (default: 0)")
    group.add_argument("--min-p", type=float, help="minimum probability relative to the top token (default: 0)")
    group.add_argument("--seed", type=int, help="random seed for reproducible sampling")
    group.add_argument("--stop", action="append", default=[], metavar="TEXT",
                       help="stop string, repeatable (never printed)")
    group.add_argument("--tool-parser", help="tool-call parser name ('none' disables tool-call parsing)")
    group.add_argument("--prefill-step-size", type=int, help="prompt tokens per prefill step (default: 2048)")
    group.add_argument("--max-kv-size", type=int, metavar="TOKENS",
                       help="keep at most TOKENS in a rotating KV cache (for prompts longer than the "
                            "model's context; older tokens are dropped)")


def _conversation_options(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("output")
    group.add_argument("--system", "-s", help="system prompt")
    group.add_argument("--stats", action="store_true", help="print the [STATS] block after each answer")
    group.add_argument("--observer", dest="observers", action="append", default=[], metavar="NAME",
                       help="registered observer to attach (e.g. log, jsonl), repeatable")


def configure_generate(parser: argparse.ArgumentParser) -> None:
    """The arguments of ``lmstream generate PROMPT``."""
    parser.add_argument("prompt", metavar="PROMPT", help="the prompt; '-' reads it from stdin")
    _model_options(parser)
    _sampling_options(parser)
    _conversation_options(parser)
    parser.add_argument("--json", action="store_true",
                        help="print every event as one JSON line instead of text")
    parser.add_argument("--raw", action="store_true",
                        help="send PROMPT as is, without the chat template")
    add_structured_options(parser)


def configure_chat(parser: argparse.ArgumentParser) -> None:
    """The arguments of ``lmstream chat``."""
    _model_options(parser)
    _sampling_options(parser)
    _conversation_options(parser)


def configure_bench(parser: argparse.ArgumentParser) -> None:
    """The arguments of ``lmstream bench``."""
    _model_options(parser)
    parser.add_argument("--runs", type=int, default=3, help="measured runs (default: %(default)s)")
    parser.add_argument("--warmup", type=int, default=1, help="unmeasured runs first (default: %(default)s)")
    parser.add_argument("--prompt-tokens", type=int, default=128,
                        help="prompt length in tokens (default: %(default)s)")
    parser.add_argument("--max-tokens", "-n", type=int, default=32,
                        help="tokens to generate per run (default: %(default)s)")


def generation_parameters(args: argparse.Namespace) -> GenerationParameters:
    """The GenerationParameters the sampling options give (defaults where not given)."""
    values: dict[str, Any] = generation_options(args)
    for dest, name in SAMPLING_OPTIONS:
        value = getattr(args, dest, None)
        if value is not None:
            if name in values:
                raise UsageError(f"give {name} with --{dest.replace('_', '-')} or --option {name}, not both")
            values[name] = value
    if getattr(args, "stop", None):
        values["stop"] = tuple(args.stop)
    values.update(structured_values(args))
    return GenerationParameters(**values)


GENERATION_OPTIONS = frozenset(GenerationParameters.model_fields) - {"tool_parser"}
"""``--option`` keys that are generation parameters (``-o max_kv_size=4096``), not load options.
``tool_parser`` stays a load option: the core reads it from there too."""


def generation_options(args: argparse.Namespace) -> dict[str, Any]:
    """The ``--option`` pairs whose key is a GenerationParameters field."""
    return {key: value for key, value in getattr(args, "options", []) if key in GENERATION_OPTIONS}


def load_options(args: argparse.Namespace) -> dict[str, Any]:
    """Load options from ``--option`` (a key given twice is an error), ``--template`` and
    ``--draft`` (``lmstream.load(drafter=NAME)``)."""
    options: dict[str, Any] = {}
    for key, value in args.options:
        if key in options:
            raise UsageError(f"--option {key} given more than once")
        options[key] = value
    for key in GENERATION_OPTIONS & set(options):  # generation parameters, see generation_options
        del options[key]
    if args.template is not None:
        if "chat_template" in options:
            raise UsageError("give the chat template with --template or --option chat_template, not both")
        options["chat_template"] = args.template
    if getattr(args, "draft", None) is not None:
        if "drafter" in options:
            raise UsageError("give the drafter with --draft or --option drafter, not both")
        options["drafter"] = args.draft
    return options


def read_prompt(prompt: str) -> str:
    """The prompt argument, or stdin when it is ``-``; an empty prompt is a usage error."""
    text = sys.stdin.read().removesuffix("\n") if prompt == "-" else prompt
    if not text.strip():
        raise UsageError("the prompt is empty" + (" (nothing on stdin)" if prompt == "-" else ""))
    return text


def user_input(prompt: str, system: str | None, *, raw: bool = False) -> UserInput:
    """A UserInput: one user message (after the system prompt, if any), or the raw prompt."""
    if raw:
        if system is not None:
            raise UsageError("--raw sends the prompt without a chat template, so it cannot take --system")
        return UserInput(prompt=prompt, use_chat_template=False)
    if system is None:
        return UserInput(prompt=prompt)
    return UserInput(messages=[ChatMessage(role="system", content=system),
                               ChatMessage(role="user", content=prompt)])
