"""One setting changed at a time: why a method of methods.py's grid behaved as it did from one start.

Each ablation reruns one method from one start (the grid's overrides from `tiny_settings`, its steps and seeds)
with one setting changed per variant, evaluates the variants and the grid's own runs greedily like the grid, and
prints per variant and seed the first logged step where half the completions hit the cap, the batch's mean
reward over the first 5 logged steps, and the eval's accuracy / mean reasoning tokens, overall and at levels 1
(with its direct rate) and 8. Ablations:

- `adaptthink-demo`: AdaptThink collapsed the demo's start in both seeds, every trace at the 48-token cap.
  Its rate is scaled like every method's (2e-6 x 200 = 4e-4) and its naive advantage has no baseline but
  R_ref: the rate divided by 10, and the group mean as the baseline (TRL's GRPO advantage, no std scaling).
- `thinkdial-overthink`: from the start that learned and overthinks only, thinkdial's default cut the fewest
  tokens of the methods that kept accuracy: without its KL anchor (beta 0), without its direct exploration
  (1 in 8 forced direct answers, at chance on this start), on the family's plain prompts (no dial control
  text) like the other methods, and on those without direct exploration.
- `thinkdial-demo`: what the demo's start loses without that direct exploration.

    .venv/bin/python experiments/ablation.py adaptthink-demo [--seeds 0 1] [--out runs/methods_tiny/ablation]

Resumable like methods.py (a finished run or eval is skipped); it needs the grid's runs (runs/methods_tiny).
"""

from __future__ import annotations

import argparse
import ast
import re
import sys
from pathlib import Path

from generality import eval_models
from methods import GRPO_RECIPE, ROOT, STARTS, STEPS, TINY_CAP, grpo, sft_start, tiny_data, tiny_settings

from thinkdial.io import read_yaml_mapping

GRID = ROOT / "runs/methods_tiny"
PLAIN = "plain"  # a --data_config value: the start family's prompts without the dial (`tiny_data`)
ABLATIONS = {
    "adaptthink-demo": (
        "adaptthink",
        "demo",
        {"rate/10": {"--learning_rate": "4e-05"}, "group baseline": {"--advantage_baseline": "group"}},
    ),
    "thinkdial-demo": ("thinkdial", "demo", {"no direct exploration": {"--direct_exploration": "0.0"}}),
    "thinkdial-overthink": (
        "thinkdial",
        "overthink",
        {
            "no KL": {"--beta": "0.0"},
            "no direct exploration": {"--direct_exploration": "0.0"},
            "plain prompts": {"--data_config": PLAIN},
            "plain prompts, no direct exploration": {"--data_config": PLAIN, "--direct_exploration": "0.0"},
        },
    ),
}


def logged_steps(log: Path) -> list[dict]:
    """Return the training log's metric rows (TRL's printed dicts), in order."""
    return [ast.literal_eval(line) for line in log.read_text().splitlines() if line.startswith("{'loss'")]


def main() -> int:
    """Train and evaluate every variant and seed of one ablation, print one markdown row each; return 0."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("ablation", choices=list(ABLATIONS))
    ap.add_argument("--seeds", nargs="+", type=int, default=[0, 1])
    ap.add_argument("--out", default="runs/methods_tiny/ablation")
    args = ap.parse_args()
    method, start, variants = ABLATIONS[args.ablation]
    out = ROOT / args.out / args.ablation
    sft = sft_start(start, GRID)
    (overrides,) = tiny_settings(method, start, GRID, sft)
    plain = {"--data_config": tiny_data(method, start, TINY_CAP, GRID, sft)}
    changes = {
        name: change | (plain if change.get("--data_config") == PLAIN else {})
        for name, change in variants.items()
    }
    labels = {f"grid-seed{s}": GRID / start / f"{method}-seed{s}" for s in args.seeds}
    for name, change in changes.items():
        settings = dict(zip(overrides[::2], overrides[1::2], strict=True)) | change
        rounds = [[a for kv in settings.items() for a in kv]]
        for s in args.seeds:  # the grid's own trainer, into OUT/<variant>/<start>/<method>-seed<s>
            variant = out / re.sub(r"[^A-Za-z0-9]+", "_", name)
            labels[f"{name}-seed{s}"] = grpo(method, start, s, rounds, variant, STEPS, sft)
    results = eval_models(out / "eval", {"start": sft, **labels}, STARTS[start].data)
    every = read_yaml_mapping(ROOT / GRPO_RECIPE, "recipe")["logging_steps"]
    print(
        "| variant, seed | first logged step with half the completions at the cap | mean reward, first 5 logs "
        "| accuracy / tokens | level 1: accuracy / tokens / direct rate | level 8: accuracy / tokens |"
    )
    print("|---|---|---|---|---|---|")
    for label in ["start", *labels]:
        model = results.models[label]
        rows = logged_steps(labels[label].with_suffix(".log")) if label in labels else []
        capped = (
            next(
                (every * (i + 1) for i, r in enumerate(rows) if float(r["completions/clipped_ratio"]) >= 0.5),
                "never",
            )
            if rows
            else ""
        )
        reward = f"{sum(float(r['reward']) for r in rows[:5]) / 5:+.3f}" if rows else ""
        first, last = model.levels["1"], model.levels["8"]
        print(
            f"| {label} | {capped} | {reward} | {model.accuracy:.3f} / {model.reasoning_tokens_mean:.1f} | "
            f"{first.accuracy:.2f} / {first.reasoning_tokens_mean:.1f} / {first.direct_rate:.2f} | "
            f"{last.accuracy:.2f} / {last.reasoning_tokens_mean:.1f} |"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
