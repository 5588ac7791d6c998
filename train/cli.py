"""`thinkdial` console script: one subcommand per stage.

Each stage module exposes `register(subparsers)`, which adds its parser and sets `func` to a
callable taking the parsed args.
"""

from __future__ import annotations

import argparse
import importlib
import os
import sys

# Modules whose `register(subparsers)` adds a subcommand, in help order.
STAGE_MODULES = (
    "train.tiny_cli",
    "data.cli",
    "train.sft",
    "train.grpo",
    "eval.cli",
    "train.export",
    "rewards.cli",
    "train.demo",
)


def build_parser() -> argparse.ArgumentParser:
    """Return the top-level parser with every available stage registered."""
    parser = argparse.ArgumentParser(prog="thinkdial", description="Teach language models when to think longer.")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for name in STAGE_MODULES:
        importlib.import_module(name).register(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Parse `argv` and run the chosen stage; return the process exit code."""
    os.environ.setdefault("WANDB_MODE", "offline")
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    parser = build_parser()
    args, extra = parser.parse_known_args(argv)
    if extra and not getattr(args, "recipe_stage", False):
        parser.error(f"unrecognized arguments: {' '.join(extra)}")
    args.recipe_args = extra
    try:
        result = args.func(args)
    except (ValueError, FileNotFoundError, KeyError) as err:
        if os.environ.get("THINKDIAL_DEBUG"):
            raise
        print(f"thinkdial {args.command}: error: {err}", file=sys.stderr)
        return 2
    return int(result or 0)


if __name__ == "__main__":
    sys.exit(main())
