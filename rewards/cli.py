"""`thinkdial rewards score | list`: try a reward config on completions before launching a job."""

from __future__ import annotations

import dataclasses
import sys
import time

from thinkdial.io import jsonl_text, prompt_hash, write_jsonl
from thinkdial.models import load_counting_tokenizer
from thinkdial.rewards.config import load_reward_config


def register(subparsers) -> None:
    """Add the `rewards` subcommand with `score` and `list`."""
    p = subparsers.add_parser("rewards", help="score completions with a reward config; list rewards")
    sub = p.add_subparsers(dest="rewards_command", required=True, metavar="ACTION")
    s = sub.add_parser(
        "score", help="score JSONL completions: one JSON line per row, level summary on stderr"
    )
    s.add_argument("--config", required=True, help="reward config YAML (configs/rewards/*.yaml)")
    s.add_argument(
        "--input", required=True, help="JSONL rows: prompt, completion, answer, [difficulty], [budget]"
    )
    s.add_argument("--tokenizer", default=None, help="tokenizer directory (default: the embedded tiny one)")
    s.add_argument("--out", default=None, help="output JSONL (default: stdout)")
    s.add_argument(
        "--advantages",
        choices=("group", "batch", "none"),
        default=None,
        metavar="SCALE_REWARDS",
        help="also print the advantage GRPO would give each row under this `scale_rewards` "
        "(group / batch / none; rows with the same prompt form a group)",
    )
    s.set_defaults(func=run_score)
    ls = sub.add_parser("list", help="list the registered rewards and their params")
    ls.set_defaults(func=run_list)


def run_score(args) -> int:
    """Score `args.input` with `args.config`; write JSON lines and print a level summary; return 0."""
    from thinkdial.rewards.registry import build_reward_funcs
    from thinkdial.rewards.score import advantages, level_summary, read_rows, score_rows
    from thinkdial.tiny import build_core_tokenizer

    config = load_reward_config(args.config)  # validated before anything heavy loads
    rows, places = read_rows(args.input)
    tokenizer = build_core_tokenizer() if args.tokenizer is None else load_counting_tokenizer(args.tokenizer)
    funcs, weights = build_reward_funcs(config, tokenizer)
    start = time.perf_counter()
    results = score_rows(rows, funcs, weights, places)
    if args.advantages:
        keys = [prompt_hash(r["prompt"]) for r in rows]
        for result, advantage in zip(
            results, advantages([r["total"] for r in results], keys, args.advantages), strict=True
        ):
            result["advantage"] = advantage
    summary = level_summary(rows, results)
    if args.out:
        write_jsonl(args.out, results)
    else:
        sys.stdout.write(jsonl_text(results))
    print(summary, file=sys.stderr)
    print(f"scored {len(rows)} rows in {time.perf_counter() - start:.2f}s", file=sys.stderr)
    return 0


def run_list(args) -> int:
    """Print every registered reward with its params (type, default, help); return 0."""
    import typing

    from thinkdial.rewards.registry import REWARDS, type_name

    for name, cls in sorted(REWARDS.items()):
        print(f"{name}: {(cls.__doc__ or '').strip().splitlines()[0]}")
        hints = typing.get_type_hints(cls.Params)
        for f in dataclasses.fields(cls.Params):
            default = "required" if f.default is dataclasses.MISSING else f"default {f.default!r}"
            print(f"    {f.name} ({type_name(hints[f.name])}, {default}): {f.metadata.get('help', '')}")
    return 0
