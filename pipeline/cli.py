"""The pipeline's subcommands: demo.

Registration imports nothing heavy: each `run` imports its job when it is called, so `thinkdial --help`
stays fast.
"""

from __future__ import annotations

import argparse


def register(subparsers) -> None:
    """Add demo."""
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


def _run_demo(args) -> int:
    from thinkdial.pipeline.demo import run_demo

    checks = run_demo(args.out, args.seeds, args.force)
    return 0 if all(c.passed for c in checks) else 1
