"""The pipeline's subcommands: demo, check, reproduce.

Registration imports nothing heavy: each `run` imports its job when it is called, so `thinkdial --help`
stays fast.
"""

from __future__ import annotations

import argparse


def register(subparsers) -> None:
    """Add demo, check and reproduce."""
    p = subparsers.add_parser(
        "demo",
        help="run the whole pipeline on the embedded default",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    p.add_argument("--out", default="runs/demo", help="run folder")
    p.add_argument(
        "--seeds",
        type=int,
        nargs="+",
        default=[0, 1],
        help="GRPO seeds, trained side by side from the shared SFT start (the export is the first)",
    )
    p.add_argument("--force", action="store_true", help="rerun stages whose outputs exist")
    p.set_defaults(func=_run_demo)
    _register_reproduce(subparsers)
    _register_check(subparsers)


def _register_check(subparsers) -> None:
    p = subparsers.add_parser(
        "check",
        help="run recipes for a few steps on random-weight models of their architecture",
        description="Run each recipe for a few steps with its model replaced by a randomly initialised one of "
        "the same architecture (nothing downloaded), the embedded tokenizer and the committed data fixtures; "
        "write OUT/results.json (ok, error, seconds per step, peak memory, the features that ran).",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    p.add_argument("recipes", nargs="*", metavar="RECIPE", help="recipe YAML files")
    p.add_argument(
        "--all", action="store_true", help="every recipe under configs/ (a YAML with model_name_or_path)"
    )
    p.add_argument(
        "--shape",
        choices=("tiny", "real"),
        default="tiny",
        help="tiny: shrunk widths, layers and lengths (CPU, CI); real: the architecture's widths, completions "
        "capped (a GPU)",
    )
    p.add_argument("--steps", type=int, default=4, help="optimizer steps per recipe")
    p.add_argument("--out", default="runs/check", help="output folder (results.json, a folder per recipe)")
    p.add_argument(
        "--accelerate-config",
        default=None,
        metavar="FILE",
        help="launch every recipe through this accelerate config instead of the one its `make train` line "
        "names (ACCEL=...); 'none': every recipe in this process",
    )
    p.set_defaults(func=_run_check)


def _run_check(args) -> int:
    from pathlib import Path

    from thinkdial.errors import UsageError
    from thinkdial.pipeline.check import recipe_files, run_check

    recipes = [Path(r) for r in args.recipes] + (recipe_files() if args.all else [])
    if not recipes:
        raise UsageError("name recipes to check, or --all")
    rows = run_check(
        list(dict.fromkeys(recipes)), args.shape, args.steps, Path(args.out), args.accelerate_config
    )
    return 0 if all(row.ok for row in rows) else 1


def _run_demo(args) -> int:
    from thinkdial.pipeline.demo import run_demo

    checks = run_demo(args.out, args.seeds, args.force)
    return 0 if all(c.passed for c in checks) else 1


def _register_reproduce(subparsers) -> None:
    p = subparsers.add_parser(
        "reproduce",
        help="train a published method's recipe, evaluate it with the papers' protocol, compare with the paper",
        description="Train every recipe of configs/methods/METHOD/ (ThinkPrune: its three rounds), evaluate the "
        "base model and the trained one with configs/eval/paper_*.yaml, and write OUT/report.md: measured beside "
        "published (configs/methods/published.yaml), with the difference (docs/reproduce.md).",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    p.add_argument("--method", required=True, help="a folder of configs/methods/ (e.g. dler, thinkprune)")
    p.add_argument("--out", help="eval and report folder (default runs/reproduce/METHOD)")
    p.add_argument(
        "--accelerate-config",
        dest="accelerate_config",
        help="train through `accelerate launch --config_file` this (e.g. configs/accelerate/zero2.yaml)",
    )
    p.add_argument(
        "--num-processes", dest="num_processes", type=int, help="accelerate's --num_processes (e.g. 8)"
    )
    p.add_argument("--dry-run", dest="dry_run", action="store_true", help="print the commands; run nothing")
    p.add_argument("--force", action="store_true", help="rerun stages whose outputs exist")
    p.set_defaults(func=_run_reproduce)


def _run_reproduce(args) -> int:
    from thinkdial.errors import UsageError
    from thinkdial.pipeline.reproduce import run_reproduce

    if args.num_processes is not None and args.accelerate_config is None:
        raise UsageError(
            "--num-processes goes with --accelerate-config (it sets accelerate's --num_processes)"
        )
    run_reproduce(args.method, args.out, args.accelerate_config, args.num_processes, args.dry_run, args.force)
    return 0
