"""Reward Pareto benchmark: same SFT start, same steps and seeds, one GRPO run per reward config.

Trains the embedded default with each reward config (correct_only, kimi, cosine, efficiency,
solve_rate, shortest_correct and thinkdial's adaptive default) for each seed, evaluates every run with
the scaling eval on the same held-out rows, and prints one table: accuracy, mean reasoning tokens,
tokens on the easy (1-2) and hard (7-8) levels, direct-answer rate on level 1, Spearman(level,
tokens), area under the budget curve and tokens / oracle, as mean +- half-range over seeds. Writes
`pareto.png` (accuracy vs mean reasoning tokens) and `pareto.json` under --out, and says whether any
baseline dominates the default beyond the seed spread.

Runs are resumable: a finished run (model.safetensors) or eval (results.json) is reused.
About 3 minutes per run and one CPU core each; with --jobs 2 on 2 cores, 7 configs x 2 seeds take
about 25 minutes after the SFT start.

    .venv/bin/python experiments/reward_pareto.py [--sft runs/demo/sft] [--seeds 0 1] [--steps 300]
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from statistics import mean

from thinkdial.pipeline.run import run_command

CONFIGS = ("correct_only", "kimi", "cosine", "efficiency", "solve_rate", "shortest_correct", "adaptive")
DEFAULT = "adaptive"
EASY, HARD = ("1", "2"), ("7", "8")


def run_one(config: str, seed: int, args) -> dict:
    """Train (unless done) and evaluate (unless done) one config and seed; return its metrics."""
    run = Path(args.out) / f"{config}-seed{seed}"
    if not (run / "model.safetensors").exists():
        run_command(
            [
                "grpo",
                "--config",
                args.recipe,
                "--model_name_or_path",
                args.sft,
                "--output_dir",
                str(run),
                "--reward_config",
                f"configs/rewards/{config}.yaml",
                "--seed",
                str(seed),
                "--max_steps",
                str(args.steps),
                "--save_strategy",
                "no",
            ],
            run.with_suffix(".log"),
        )
    results = run / "eval" / "results.json"
    if not results.exists():
        run_command(
            [
                "eval",
                "--config",
                args.eval_config,
                "--model",
                f"{config}={run}",
                "--out",
                str(run / "eval"),
                "--no-progress",
            ],
            run.with_suffix(".log"),
        )
    return metrics(json.loads(results.read_text())["models"][config])


def metrics(model: dict) -> dict:
    """Return the benchmark's scalar metrics of one results.json model entry."""
    levels = model["levels"]
    return {
        "accuracy": model["accuracy"],
        "tokens": model["reasoning_tokens_mean"],
        "tokens_easy": mean(levels[k]["reasoning_tokens_mean"] for k in EASY),
        "tokens_hard": mean(levels[k]["reasoning_tokens_mean"] for k in HARD),
        "direct_rate_1": levels["1"]["direct_rate"],
        "spearman": model.get("spearman_difficulty_tokens"),
        "budget_auc": model.get("budget_curve_area_log2"),
        "tokens_per_oracle": model.get("tokens_over_oracle"),
    }


def aggregate(per_seed: list[dict]) -> dict:
    """Return {metric: (mean, half-range)} over seeds (None where a seed has no value)."""
    out = {}
    for key in per_seed[0]:
        values = [m[key] for m in per_seed if m[key] is not None]
        out[key] = (mean(values), (max(values) - min(values)) / 2) if values else (None, None)
    return out


def dominated_by(table: dict, default: str = DEFAULT) -> list[str]:
    """Return the configs with both higher accuracy and fewer mean tokens than `default`, beyond the spread."""
    (acc, acc_s), (tok, tok_s) = table[default]["accuracy"], table[default]["tokens"]
    return [
        name
        for name, row in table.items()
        if name != default
        and row["accuracy"][0] - row["accuracy"][1] > acc + acc_s
        and row["tokens"][0] + row["tokens"][1] < tok - tok_s
    ]


def plot(table: dict, path: Path) -> None:
    """Write the accuracy vs mean reasoning tokens scatter (error bars = seed half-range) to `path`."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6.4, 4.4))
    for name, row in table.items():
        (x, xs), (y, ys) = row["tokens"], row["accuracy"]
        ax.errorbar(
            x,
            y,
            xerr=xs,
            yerr=ys,
            fmt="o" if name != DEFAULT else "*",
            ms=8 if name != DEFAULT else 14,
            capsize=3,
            label=name,
        )
    ax.set_xlabel("mean reasoning tokens per problem (tokens)")
    ax.set_ylabel("accuracy (free reasoning, greedy)")
    ax.set_title("Reward configs, same SFT start\n(mean, bars = half-range over seeds)", fontsize=10)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def fmt(pair, digits=3) -> str:
    """Return 'mean+-spread' for a (mean, half-range) pair, '-' when missing."""
    m, s = pair
    return "-" if m is None else f"{m:.{digits}f}+-{s:.{digits}f}"


def main() -> int:
    """Train and evaluate every config and seed, print the table, write the plot; return 0."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument(
        "--sft", default="runs/demo/sft", help="SFT start shared by every run (make demo writes it)"
    )
    ap.add_argument("--recipe", default="configs/tiny/grpo.yaml")
    ap.add_argument("--eval-config", default="configs/tiny/eval.yaml")
    ap.add_argument("--configs", nargs="+", default=list(CONFIGS))
    ap.add_argument("--seeds", nargs="+", type=int, default=[0, 1])
    ap.add_argument("--steps", type=int, default=None, help="GRPO steps (default: the recipe's max_steps)")
    ap.add_argument("--out", default="runs/pareto")
    ap.add_argument("--jobs", type=int, default=2, help="runs at a time (each uses one CPU thread)")
    args = ap.parse_args()
    if not (Path(args.sft) / "model.safetensors").exists():
        print(f"no SFT start at {args.sft}: run `make demo` first (or pass --sft)", file=sys.stderr)
        return 2
    if args.steps is None:
        import yaml

        args.steps = yaml.safe_load(Path(args.recipe).read_text())["max_steps"]
    start = time.time()
    jobs = [(c, s) for c in args.configs for s in args.seeds]
    with ThreadPoolExecutor(max_workers=args.jobs) as pool:  # each job is its own subprocess
        done = dict(zip(jobs, pool.map(lambda job: run_one(*job, args), jobs), strict=True))
    table = {c: aggregate([done[c, s] for s in args.seeds]) for c in args.configs}
    out = Path(args.out)
    cols = [
        "accuracy",
        "tokens",
        "tokens_easy",
        "tokens_hard",
        "direct_rate_1",
        "spearman",
        "budget_auc",
        "tokens_per_oracle",
    ]
    print(
        f"\nreward Pareto: {len(args.configs)} configs x seeds {args.seeds}, {args.steps} GRPO steps each, "
        f"from {args.sft}; {(time.time() - start) / 60:.1f} min"
    )
    print(f"{'config':<17}" + "".join(f"{c:>18}" for c in cols))
    for name, row in table.items():
        print(f"{name:<17}" + "".join(f"{fmt(row[c], 2 if c.startswith('tokens') else 3):>18}" for c in cols))
    if DEFAULT in table:
        beaten = dominated_by(table)
        print(
            f"\n{DEFAULT} dominated by: {', '.join(beaten) if beaten else 'none'} "
            "(higher accuracy AND fewer mean tokens, beyond the seed spread)"
        )
    plot(table, out / "pareto.png")
    (out / "pareto.json").write_text(
        json.dumps({"seeds": args.seeds, "steps": args.steps, "table": table}, indent=2)
    )
    print(f"wrote {out / 'pareto.png'} and {out / 'pareto.json'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
