"""`thinkdial eval --config configs/tiny/eval.yaml --model LABEL=PATH [--model ...] --out DIR` and
`thinkdial generate --model PATH [--budget N] [--effort LEVEL] (--prompt TEXT | --input JSONL)`.

Every argument and input row is checked here, before torch or a model loads.
"""

from __future__ import annotations

import argparse
import json
import math
from pathlib import Path

from thinkdial.data.dial import EFFORTS, parse_budget, parse_effort
from thinkdial.errors import UsageError
from thinkdial.eval.config import (
    GENERATE_MAX_ANSWER_TOKENS,
    GENERATE_MAX_REASONING_TOKENS,
    GENERATIONS,
    load_eval_config,
)
from thinkdial.io import read_jsonl


def _budgets(text: str) -> list:
    return [b if b == "unlimited" else int(b) for b in text.split(",") if b]


def register(subparsers) -> None:
    """Add the `eval` and `generate` subcommands."""
    p = subparsers.add_parser(
        "eval",
        help="scaling eval: accuracy vs thinking budget, tokens vs difficulty, report",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    p.add_argument("--config", default="configs/tiny/eval.yaml", help="eval config YAML (eval/config.py)")
    p.add_argument(
        "--model",
        action="append",
        default=[],
        metavar="LABEL=PATH",
        help="checkpoint to evaluate (repeat; the first is the reference of deltas)",
    )
    p.add_argument(
        "--out", required=True, help="output folder: results.json, per_example.jsonl, plots/, report.md"
    )
    p.add_argument(
        "--data-config",
        dest="data_config",
        help="override: data config YAML of the held-out rows "
        "(e.g. your own task's; its `test` split is evaluated)",
    )
    p.add_argument("--limit", type=int, help="override: evaluate at most this many rows")
    p.add_argument(
        "--budgets", type=_budgets, help="override: comma-separated budgets, e.g. 0,4,16,unlimited"
    )
    p.add_argument(
        "--batch-size", type=int, dest="batch_size", help="override: sequences per generation batch"
    )
    p.add_argument("--backend", choices=("auto", "transformers", "vllm"), help="override: generation backend")
    p.add_argument(
        "--generation",
        choices=GENERATIONS,
        help="override: how the transformers backend decodes (dynamic / static KV cache, compiled or not)",
    )
    p.add_argument(
        "--jobs", type=int, help="override: checkpoints evaluated at once on CPU, each in its own process"
    )
    p.add_argument(
        "--no-dial",
        action="append",
        default=[],
        dest="no_dial",
        metavar="LABEL",
        help="evaluate this model without the dial axes (requested_budgets, efforts): budget forcing only",
    )
    p.add_argument(
        "--no-progress", action="store_false", dest="progress", default=None, help="hide progress bars"
    )
    p.set_defaults(func=run)
    _register_generate(subparsers)


def run(args) -> int:
    """Load the config, run the eval, write the files; return 0."""
    from thinkdial.eval.run import run_eval

    config = load_eval_config(
        args.config,
        data_config=args.data_config,
        limit=args.limit,
        budgets=args.budgets,
        batch_size=args.batch_size,
        backend=args.backend,
        generation=args.generation,
        jobs=args.jobs,
        progress=args.progress,
    )
    run_eval(config, args.model, args.out, no_dial=tuple(args.no_dial))
    return 0


def _register_generate(subparsers) -> None:
    p = subparsers.add_parser(
        "generate",
        help="generate with the dial: a thinking budget (hard-capped) or an effort level",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
        description="Render the dial's control text into each prompt and generate (transformers); thinking is "
        "closed at N reasoning tokens. Prints one JSON line per prompt.",
    )
    p.add_argument("--model", required=True, help="checkpoint folder (Hugging Face format)")
    p.add_argument(
        "--budget",
        default=None,
        metavar="N",
        help="thinking budget in reasoning tokens: in the prompt (unless --effort) and a hard cap",
    )
    p.add_argument(
        "--effort",
        default=None,
        metavar="LEVEL",
        help=f"effort level ({'|'.join(EFFORTS)}) in the prompt; the cap is then --budget if given, "
        "else --max-reasoning-tokens",
    )
    source = p.add_mutually_exclusive_group(required=True)
    source.add_argument("--prompt", action="append", metavar="TEXT", help="a prompt (repeat for several)")
    source.add_argument(
        "--input",
        metavar="JSONL",
        help="rows with `prompt` (text or chat messages) and optional "
        "`budget` / `effort`, which override --budget / --effort",
    )
    p.add_argument(
        "--prompt-format",
        choices=("plain", "chat"),
        default="plain",
        help="text prompts as they are (plain) or as system + user messages (chat)",
    )
    p.add_argument(
        "--system-prompt", default=None, help="system message of chat prompts (default: thinkdial's)"
    )
    p.add_argument(
        "--max-reasoning-tokens",
        type=int,
        default=None,
        help=f"cap on reasoning tokens without a budget (default: {GENERATE_MAX_REASONING_TOKENS}, or what the "
        "model's context leaves after the prompt and the answer)",
    )
    p.add_argument(
        "--max-answer-tokens",
        type=int,
        default=GENERATE_MAX_ANSWER_TOKENS,
        help="tokens allowed after the think block",
    )
    p.add_argument("--batch-size", type=int, default=16, help="prompts per generation batch")
    p.add_argument("--sample", action="store_true", help="sample instead of greedy decoding")
    p.add_argument("--temperature", type=float, default=1.0, help="sampling temperature")
    p.add_argument("--top-p", type=float, default=1.0, help="nucleus sampling mass")
    p.add_argument("--seed", type=int, default=0, help="sampling seed")
    p.set_defaults(func=run_generate)


def generate_requests(args) -> list[dict]:
    """Return the checked requests of `thinkdial generate`: [{prompt, budget_tokens, effort, place}], `place`
    naming the request in errors (`--prompt N`, or the --input file and line); a bad argument or input row
    raises a one-line UsageError naming it."""
    from thinkdial.data.sources import format_prompt, is_chat

    budget, effort = parse_budget(args.budget, "--budget"), parse_effort(args.effort, "--effort")
    if args.prompt:
        return [
            {
                "prompt": format_prompt(t, args.prompt_format, args.system_prompt),
                "budget_tokens": budget,
                "effort": effort,
                "place": f"--prompt {n}",
            }
            for n, t in enumerate(args.prompt, 1)
        ]
    path = Path(args.input)
    if not path.is_file():
        raise UsageError(f"--input not found: {path}")
    requests = []
    for line, row in read_jsonl(path):
        place, prompt = f"{path}:{line}", row.get("prompt")
        if not (isinstance(prompt, str) and prompt) and not is_chat(prompt):
            raise UsageError(f"{place}: column 'prompt' must be text or chat messages, got {prompt!r:.60}")
        row_budget = parse_budget(row.get("budget"), f"{place}: column 'budget'")
        row_effort = parse_effort(row.get("effort"), f"{place}: column 'effort'")
        requests.append(
            {
                "prompt": format_prompt(prompt, args.prompt_format, args.system_prompt)
                if isinstance(prompt, str)
                else prompt,
                "budget_tokens": budget if row_budget is None else row_budget,
                "effort": effort if row_effort is None else row_effort,
                "place": place,
            }
        )
    if not requests:
        raise UsageError(f"{path}: no rows")
    return requests


def run_generate(args) -> int:
    """Check the arguments, load the model, generate; print one JSON line per prompt; return 0."""
    requests = generate_requests(args)
    for name in ("max_reasoning_tokens", "max_answer_tokens", "batch_size"):
        if getattr(args, name) is not None and getattr(args, name) < 1:
            raise UsageError(f"--{name.replace('_', '-')} must be >= 1, got {getattr(args, name)}")
    if not 0 < args.temperature < math.inf:
        raise UsageError(
            f"--temperature must be > 0, got {args.temperature} (decoding is greedy unless --sample)"
        )
    if not 0 < args.top_p <= 1:
        raise UsageError(f"--top-p must be in (0, 1], got {args.top_p}")
    from thinkdial.eval.dial import generate_from_checkpoint

    outputs = generate_from_checkpoint(
        args.model,
        [r["prompt"] for r in requests],
        budget_tokens=[r["budget_tokens"] for r in requests],
        effort=[r["effort"] for r in requests],
        max_reasoning_tokens=args.max_reasoning_tokens,
        max_answer_tokens=args.max_answer_tokens,
        places=[r["place"] for r in requests],
        do_sample=args.sample,
        temperature=args.temperature,
        top_p=args.top_p,
        batch_size=args.batch_size,
        seed=args.seed,
    )
    for out in outputs:
        print(json.dumps(out, ensure_ascii=False))
    return 0
