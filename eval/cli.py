"""`thinkdial eval --config configs/tiny/eval.yaml --model LABEL=PATH [--model ...] --out DIR`."""

from __future__ import annotations

import argparse

from thinkdial.eval.config import load_eval_config


def _budgets(text: str) -> list:
    return [b if b == "unlimited" else int(b) for b in text.split(",") if b]


def register(subparsers) -> None:
    """Add the `eval` subcommand."""
    p = subparsers.add_parser("eval", help="scaling eval: accuracy vs thinking budget, tokens vs difficulty, report",
                              formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    p.add_argument("--config", default="configs/tiny/eval.yaml", help="eval config YAML (eval/config.py)")
    p.add_argument("--model", action="append", default=[], metavar="LABEL=PATH",
                   help="checkpoint to evaluate (repeat; the first is the reference of deltas)")
    p.add_argument("--out", required=True, help="output folder: results.json, per_example.jsonl, plots/, report.md")
    p.add_argument("--data-config", dest="data_config", help="override: data config YAML of the held-out rows "
                   "(e.g. your own task's; its `test` split is evaluated)")
    p.add_argument("--limit", type=int, help="override: evaluate at most this many rows")
    p.add_argument("--budgets", type=_budgets, help="override: comma-separated budgets, e.g. 0,4,16,unlimited")
    p.add_argument("--batch-size", type=int, dest="batch_size", help="override: sequences per generation batch")
    p.add_argument("--backend", choices=("auto", "transformers", "vllm"), help="override: generation backend")
    p.add_argument("--no-progress", action="store_false", dest="progress", default=None, help="hide progress bars")
    p.set_defaults(func=run)


def run(args) -> int:
    """Load the config, run the eval, write the files; return 0."""
    from thinkdial.eval.run import run_eval

    config = load_eval_config(args.config, data_config=args.data_config, limit=args.limit, budgets=args.budgets, batch_size=args.batch_size,
                              backend=args.backend, progress=args.progress)
    run_eval(config, args.model, args.out)
    return 0
