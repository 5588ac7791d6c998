"""`thinkdial` console script (and `python -m thinkdial`): one subcommand per stage.

Building the parser imports only light modules: each stage imports torch, TRL or transformers
inside its `run`, so `thinkdial --help`, `thinkdial data` and `thinkdial rewards ...` start fast.
A stage's output goes to stdout; logs, banners and progress go to stderr. A `UsageError` (the user's
mistake) prints one line and exits 2; every other exception keeps its traceback (exit 1).
"""

from __future__ import annotations

import argparse
import atexit
import gc
import importlib
import os
import sys

from thinkdial.errors import UsageError

# Exit without the interpreter's last garbage collection over every object torch, TRL and transformers made:
# frozen objects are skipped (atexit hooks, such as wandb's, have run by then).
atexit.register(gc.freeze)

# Modules whose `register(subparsers)` adds subcommands, in help order. Each must import no torch/TRL.
COMMAND_MODULES = (
    "thinkdial.train.commands",
    "thinkdial.data.cli",
    "thinkdial.eval.cli",
    "thinkdial.rewards.cli",
    "thinkdial.pipeline.cli",
)


def build_parser() -> argparse.ArgumentParser:
    """Return the top-level parser with every stage registered."""
    parser = argparse.ArgumentParser(
        prog="thinkdial", description="Teach language models when to think longer."
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for name in COMMAND_MODULES:
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
    except UsageError as err:
        print(f"thinkdial {args.command}: error: {err}", file=sys.stderr)
        return 2
    return int(result or 0)


if __name__ == "__main__":
    sys.exit(main())
