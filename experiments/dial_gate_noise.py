"""How much of the dial's accuracy gate is sampling noise: the gap dial - forcing on many fresh held-out rows.

The demo's accuracy gate (pipeline/gates.py `dial_checks`) asks, at every requested budget, the dial's accuracy
>= the same model's budget forcing - 1 point, on the eval config's held-out rows. Where a budget cannot
finish a level, both answer near chance, so the gap there is mostly which guesses the held-out rows happen
to reward. This bench evaluates each model on `--rows-per-level` fresh held-out rows of the tiny default
(the data config's test split drawn with another `--seed`: rows no training run sees) at the requested
budgets of the eval config, and prints per model and budget: the dial's and forcing's accuracy, the gap with
its paired standard error, the standard error the demo's eval would have (its rows per level), and the
chance that the demo's eval passes the gate given this gap (normal approximation).

    .venv/bin/python experiments/dial_gate_noise.py [--models LABEL=PATH ...] [--rows-per-level 1000] [--seed 7]

About 3 minutes for the two demo seeds on 2 CPU cores (eval `jobs` of the eval config; measured 3.1).
"""

from __future__ import annotations

import argparse
import json
import math
import os
import tempfile
from pathlib import Path

import yaml

from thinkdial.data.config import load_data_config
from thinkdial.eval.config import load_eval_config
from thinkdial.eval.run import parse_models, run_eval
from thinkdial.pipeline.gates import TOLERANCE

ROOT = Path(__file__).resolve().parents[1]
MODELS = ["seed0=runs/demo/grpo-seed0", "seed1=runs/demo/grpo-seed1"]


def paired_gap(rows: list[dict], budget: str) -> tuple[float, float, float, float]:
    """Return (dial accuracy, forcing accuracy, gap, standard error of the gap), all in points, at `budget`
    from per_example.jsonl rows (each row's dial and forcing answers paired)."""
    diffs = [int(r["requested"][budget]["correct"]) - int(r["budgets"][budget]["correct"]) for r in rows]
    n = len(diffs)
    dial = 100 * sum(r["requested"][budget]["correct"] for r in rows) / n
    forcing = 100 * sum(r["budgets"][budget]["correct"] for r in rows) / n
    mean = sum(diffs) / n
    variance = sum((d - mean) ** 2 for d in diffs) / (n - 1)
    return dial, forcing, 100 * mean, 100 * math.sqrt(variance / n)


def pass_chance(gap: float, se: float) -> float:
    """Return P(measured gap >= -TOLERANCE) for a true `gap` and standard error `se`, in points (the gap
    measured here taken as the true one)."""
    margin = gap + 100 * TOLERANCE
    if se == 0:  # the dial and forcing agree on every row
        return float(margin >= 0)
    return 0.5 * (1 + math.erf(margin / (se * math.sqrt(2))))


def main() -> int:
    """Evaluate the models on the fresh rows and print the gate's gap, its noise and pass chance; return 0."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument(
        "--models", nargs="+", default=MODELS, help="LABEL=PATH checkpoints trained with the dial"
    )
    ap.add_argument("--config", default="configs/tiny/eval.yaml", help="eval config (budgets, data config)")
    ap.add_argument("--rows-per-level", type=int, default=1000, help="fresh held-out rows per level")
    ap.add_argument(
        "--seed", type=int, default=7, help="seed of the fresh rows (the demo's eval: its config's)"
    )
    ap.add_argument("--out", default="runs/dial_gate_noise", help="eval output folder")
    args = ap.parse_args()
    os.chdir(ROOT)  # the default checkpoints and configs are named relative to the repository
    config = load_eval_config(args.config)
    demo_rows = load_data_config(config.data_config).test_rows_per_level
    with tempfile.TemporaryDirectory(prefix="thinkdial_noise_") as tmp:
        data = yaml.safe_load(Path(config.data_config).read_text())
        data.update(seed=args.seed, test_rows_per_level=args.rows_per_level)
        data_path = Path(tmp) / "data.yaml"
        data_path.write_text(yaml.safe_dump(data))
        fresh = load_eval_config(args.config, data_config=str(data_path), efforts=[], effort_budgets={})
        run_eval(fresh, args.models, args.out, log=lambda *_: None)
    per_example = [json.loads(line) for line in Path(args.out, "per_example.jsonl").read_text().splitlines()]
    print(
        f"{args.rows_per_level} fresh rows a level (seed {args.seed}); the demo's eval: {demo_rows} a level"
    )
    print("model  budget  dial %  forcing %  gap pt  SE pt  SE at the demo's rows  P(demo's gate passes)")
    scale = math.sqrt(args.rows_per_level / demo_rows)
    for label in parse_models(args.models):  # the labels run_eval gave, bare paths named by their folder
        rows = [r for r in per_example if r["model"] == label]
        for budget in map(str, fresh.requested_budgets):
            dial, forcing, gap, se = paired_gap(rows, budget)
            print(
                f"{label:6} {budget:>6}  {dial:6.2f}  {forcing:9.2f}  {gap:+6.2f}  {se:5.2f}  "
                f"{se * scale:21.2f}  {pass_chance(gap, se * scale):21.2f}"
            )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
