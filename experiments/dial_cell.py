"""One cell of the dial, greedy and sampled: how often models write past a requested budget at one level.

The demo's dial gates read greedy decoding; GRPO trains on samples (temperature 1). This prints, per model, on
the first `--prompts` held-out rows of `--level` with `[think<=B] ` (B = `--budget`) and no hard cap at B: the
share of greedy completions past the budget, the share of `--samples` sampled completions per prompt past
it, and the sampled reasoning-token counts. Default: the cell where Control failed before the demo drew
budgets relative to each row's need (level 6 at a budget of 4: the chain minus its last value, what a budget
of 5 allows, is the over-budget completion), for the SFT start and the default GRPO runs of seeds 0-3
(experiments/dial_sweep.py, `--seeds 2 3` for the last two).

    .venv/bin/python experiments/dial_cell.py [--models LABEL=PATH ...] [--level 6] [--budget 4]

About 30 s per model on one CPU thread.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections import Counter
from pathlib import Path

from thinkdial.data.dial import control_prompt
from thinkdial.eval.config import load_eval_config
from thinkdial.eval.dial import generate_from_checkpoint
from thinkdial.eval.run import load_eval_rows, parse_models

ROOT = Path(__file__).resolve().parents[1]
MODELS = [
    "start=runs/demo/sft",
    "seed0=runs/dial_sweep/default/grpo-seed0",
    "seed1=runs/dial_sweep/default/grpo-seed1",
    "seed2=runs/dial_sweep_seeds2-3/default/grpo-seed2",
    "seed3=runs/dial_sweep_seeds2-3/default/grpo-seed3",
]


def reasoning_tokens(path: str, prompts: list[str], samples: int, do_sample: bool, config) -> list[int]:
    """Return the reasoning tokens of `samples` completions per prompt (greedy: one) of the model at `path`,
    capped only where the eval config `config` caps free decoding (the control text is in the prompt, no
    budget is passed to the hard cap; the tiny model's 256 positions hold no more)."""
    repeated = [p for p in prompts for _ in range(samples if do_sample else 1)]
    out = generate_from_checkpoint(
        path,
        repeated,
        max_reasoning_tokens=config.max_reasoning_tokens,
        max_answer_tokens=config.max_answer_tokens,
        do_sample=do_sample,
        batch_size=256,
        seed=0,
    )
    return [o["reasoning_tokens"] for o in out]


def main() -> int:
    """Print the greedy and sampled over-budget shares of each model at one (level, budget) cell; return 0."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--models", nargs="+", default=MODELS, help="LABEL=PATH checkpoints")
    ap.add_argument("--config", default="configs/tiny/eval.yaml", help="eval config: its held-out rows")
    ap.add_argument("--level", type=float, default=6, help="difficulty level of the rows")
    ap.add_argument("--budget", type=int, default=4, help="requested budget, reasoning tokens")
    ap.add_argument("--prompts", type=int, default=200, help="held-out rows of the level")
    ap.add_argument("--samples", type=int, default=16, help="sampled completions per prompt (temperature 1)")
    args = ap.parse_args()
    os.chdir(ROOT)  # the default checkpoints are named relative to the repository
    config = load_eval_config(args.config)
    rows = [r for r in load_eval_rows(config) if r["difficulty"] == args.level]
    prompts = [control_prompt(r["prompt"], args.budget) for r in rows[: args.prompts]]
    print(f"level {args.level:g}, budget {args.budget}: {len(prompts)} prompts, {args.samples} samples each")
    print("| model | greedy: past the budget | sampled: past the budget | sampled reasoning tokens: count |")
    print("|---|---|---|---|")
    for label, path in parse_models(args.models).items():
        greedy = reasoning_tokens(path, prompts, 1, do_sample=False, config=config)
        sampled = reasoning_tokens(path, prompts, args.samples, do_sample=True, config=config)
        counts = ", ".join(f"{n}: {c}" for n, c in sorted(Counter(sampled).items()))
        print(
            f"| {label} | {sum(n > args.budget for n in greedy) / len(greedy):.2f} | "
            f"{sum(n > args.budget for n in sampled) / len(sampled):.2f} | {counts} |",
            flush=True,
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
