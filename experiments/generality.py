"""Generality: one default recipe and reward on task families of different kinds; only the data config differs.

Families: `permchain` (lookup chains through six memorised permutations: the demo's), `affinechain`
(arithmetic steps, +d / *d mod 10) and `pointerchain` (in-context retrieval: every step looks its value up
in a map written in the prompt; the tiny model's start is weak there). Each gets the same SFT recipe on
its own "wrong both ways" mixture (configs/families/<family>/sft_data.yaml; permchain: configs/tiny/), then
`configs/tiny/grpo.yaml` with the default reward for every seed, then the scaling eval on its held-out
rows. Printed per family and seed: start vs grpo accuracy, reasoning tokens and direct rate per level, and
PASS/FAIL for

- do no harm: every level's accuracy >= the start's - 1 point;
- the two-sided shift where the start is miscalibrated (pipeline/gates.py `miscalibration`): the easiest two
  levels at <= 50% of the start's tokens where it overthinks levels it solves, the hardest level +20
  points (and >= 90%) with more tokens where it gives up although its reasoning works.

    .venv/bin/python experiments/generality.py [--families ...] [--seeds 0 1] [--jobs 2] [--out runs/generality]

About 15 minutes per family SFT and 4 per GRPO run on one CPU thread; runs are resumable.
"""

from __future__ import annotations

import argparse
import json
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from thinkdial.pipeline.demo import grpo_stage, sft_stage
from thinkdial.pipeline.gates import do_no_harm, miscalibration, two_sided_checks
from thinkdial.pipeline.run import run_command

ROOT = Path(__file__).resolve().parents[1]

FAMILIES = {
    "permchain": "configs/tiny",
    "affinechain": "configs/families/affinechain",
    "pointerchain": "configs/families/pointerchain",
}


def sft(family: str, out: Path) -> Path:
    """Train (unless done) the family's SFT start, the demo's SFT command on the family's data (one process);
    return its folder."""
    argv, marker = sft_stage(out / family)
    if not marker.exists():
        run_command(
            [*argv, "--data_config", f"{FAMILIES[family]}/sft_data.yaml", "--cpu_threads", "1"],
            out / family / "sft.log",
            cwd=ROOT,
        )
    return marker.parent


def grpo_and_eval(family: str, seed: int, out: Path) -> dict:
    """Train (unless done) and evaluate (unless done) one family and seed; return its results.json dict."""
    argv, marker = grpo_stage(out / family, seed)
    start, run = out / family / "sft", marker.parent
    log = out / family / f"seed{seed}.log"
    if not marker.exists():  # the demo's GRPO command on the family's data
        run_command(
            [*argv, "--data_config", f"{FAMILIES[family]}/grpo_data.yaml", "--save_strategy", "no"],
            log,
            cwd=ROOT,
        )
    results = run / "eval" / "results.json"
    if not results.exists():
        run_command(
            [
                "eval",
                "--config",
                "configs/tiny/eval.yaml",
                "--data-config",
                f"{FAMILIES[family]}/data.yaml",
                "--model",
                f"start={start}",
                "--model",
                f"grpo={run}",
                "--no-dial",
                "start",
                "--no-dial",
                "grpo",
                "--out",
                str(run / "eval"),
                "--no-progress",
            ],
            log,
            cwd=ROOT,
        )
    return json.loads(results.read_text())


def table(results: dict) -> str:
    """Return the per-level start -> grpo table of one run."""
    s, g = results["models"]["start"], results["models"]["grpo"]
    lines = ["  level  accuracy          reasoning tokens    direct rate"]
    for lv in sorted(g["levels"], key=float):
        a, b = s["levels"][lv], g["levels"][lv]
        lines.append(
            f"  {lv:>5}  {a['accuracy']:.3f} -> {b['accuracy']:.3f}   {a['reasoning_tokens_mean']:6.2f} -> "
            f"{b['reasoning_tokens_mean']:6.2f}   {a['direct_rate']:.2f} -> {b['direct_rate']:.2f}"
        )
    lines.append(
        f"    all  {s['accuracy']:.3f} -> {g['accuracy']:.3f}   {s['reasoning_tokens_mean']:6.2f} -> "
        f"{g['reasoning_tokens_mean']:6.2f}   {s['direct_rate']:.2f} -> {g['direct_rate']:.2f}"
    )
    return "\n".join(lines)


def report(family: str, seed: int, results: dict) -> bool:
    """Print one run's table and checks; return whether every check passed."""
    s, g = results["models"]["start"], results["models"]["grpo"]
    wrong = miscalibration(s)
    ends = [end for end in ("easy", "hard") if wrong[end]] or ["none"]
    print(f"\n== {family}, seed {seed} (start miscalibrated at: {', '.join(ends)})\n{table(results)}")
    checks = [do_no_harm(s, g), *two_sided_checks(s, g)]
    for c in checks:
        print(f"  [{'PASS' if c.passed else 'FAIL'}] {c.name}: {c.detail}")
    return all(c.passed for c in checks)


def main() -> int:
    """Train and evaluate every family and seed, print the tables and checks; return 0 when all PASS."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--families", nargs="+", default=list(FAMILIES), choices=list(FAMILIES))
    ap.add_argument("--seeds", nargs="+", type=int, default=[0, 1])
    ap.add_argument("--jobs", type=int, default=2, help="runs at a time (one CPU thread each)")
    ap.add_argument("--out", default="runs/generality")
    args = ap.parse_args()
    out = (ROOT / args.out) if not Path(args.out).is_absolute() else Path(args.out)
    with ThreadPoolExecutor(args.jobs) as pool:
        list(pool.map(lambda f: sft(f, out), args.families))
        jobs = [(f, s) for f in args.families for s in args.seeds]
        results = list(pool.map(lambda job: grpo_and_eval(*job, out), jobs))
    passed = [report(f, s, r) for (f, s), r in zip(jobs, results, strict=True)]
    print(f"\n{sum(passed)}/{len(passed)} family x seed runs pass every check")
    return 0 if all(passed) else 1


if __name__ == "__main__":
    sys.exit(main())
