"""Generality: the default recipe and reward from starts that learned the task, on every task family.

Families: `permchain` (lookup chains through six memorised permutations: the demo's), `affinechain`
(arithmetic steps, +d / *d mod 10) and `pointerchain` (in-context retrieval: every step looks its value up
in a map written in the prompt). Each family gets SFT starts of two kinds, each trained to convergence on
held-out rows by the tiny SFT recipe (configs/tiny/sft.yaml, `stop_when_converged`) from the embedded model;
only the data config differs:

- `wrong_both_ways` (<family>/sft_data.yaml, the demo's design): overthinks levels 1-6 (verbose traces,
  4-5x the oracle minimum) and under-thinks levels 7-8 (stops half-way and guesses);
- `minimal` (<family>/sft_data_minimal.yaml): the minimal chain or a direct answer at every level.

From each start, GRPO with the default recipe and reward (configs/tiny/grpo.yaml, configs/rewards/adaptive.yaml)
for every seed, then one eval of the start and its seeds on EVAL_ROWS_PER_LEVEL held-out rows a level at
budgets 0 and unlimited (accuracy, forced-direct accuracy, reasoning tokens and direct rate per level: what
the gates read). Printed per family, kind and seed, as markdown: the start's SFT, the per-level table and the
gates of pipeline/gates.py, decided together with one 1% false-fail rate for the whole run (`decide`):
`learned_start_checks` (what the default must do from any start that learned: no level worse than the
start's - 1 point, >= 30% fewer tokens where it overthinks, direct answers where they are as accurate as
reasoning) and `two_sided_checks` where the start is miscalibrated (the hardest level solved, with more
tokens, where the start gives up on it).

    flock /tmp/thinkdial-cpu.lock .venv/bin/python experiments/generality.py [--families ...] [--kinds ...] \\
        [--seeds 0 1] [--jobs 2] [--out runs/generality]

Runs are resumable (a finished SFT, GRPO run or eval is skipped). CPU time, one thread a run: an SFT start
0.4-0.7 s a step (docs/results/generality.md gives each start's steps), a GRPO run about 7 minutes, the eval
of a start and two seeds about 3 minutes.
"""

from __future__ import annotations

import argparse
import json
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from thinkdial.eval.schema import Results, load_results
from thinkdial.pipeline.demo import grpo_stage
from thinkdial.pipeline.gates import Evidence, decide, learned_start_checks, two_sided_checks
from thinkdial.pipeline.run import run_command

ROOT = Path(__file__).resolve().parents[1]
SFT_RECIPE = "configs/tiny/sft.yaml"
EVAL_CONFIG = "configs/tiny/eval.yaml"
EVAL_ROWS_PER_LEVEL = 200  # the families' held-out split (permchain's holds 400: the first 200 of each level)

FAMILIES = {
    "permchain": "configs/tiny",
    "affinechain": "configs/families/affinechain",
    "pointerchain": "configs/families/pointerchain",
}
KINDS = {"wrong_both_ways": "sft_data.yaml", "minimal": "sft_data_minimal.yaml"}


def train_sft(data: str, folder: Path) -> Path:
    """Train (unless done) an SFT start on data config `data` to convergence into `folder` (its log beside it,
    `<folder>.log`); return the folder."""
    if not (folder / "tokenizer_config.json").exists():
        argv = ["sft", "--config", SFT_RECIPE, "--data_config", data, "--output_dir", str(folder)]
        run_command(
            [*argv, "--cpu_threads", "1", "--disable_tqdm", "true"], folder.with_suffix(".log"), cwd=ROOT
        )
    return folder


def sft(family: str, kind: str, out: Path) -> Path:
    """Train (unless done) the SFT start of `family` and `kind` to convergence; return its folder."""
    return train_sft(f"{FAMILIES[family]}/{KINDS[kind]}", out / family / kind / "sft")


def grpo(family: str, kind: str, seed: int, out: Path) -> Path:
    """Train (unless done) the default GRPO run with `seed` from the start of `family` and `kind`; return its
    folder."""
    argv, marker = grpo_stage(out / family / kind, seed)
    if not marker.exists():  # the demo's GRPO command on the family's data
        argv += ["--data_config", f"{FAMILIES[family]}/grpo_data.yaml", "--save_strategy", "no"]
        run_command([*argv, "--disable_tqdm", "true"], out / family / kind / f"seed{seed}.log", cwd=ROOT)
    return marker.parent


def eval_models(
    out: Path,
    models: dict[str, Path],
    data: str,
    config: str = EVAL_CONFIG,
    rows: int = EVAL_ROWS_PER_LEVEL,
    dial: tuple[str, ...] = (),
) -> Results:
    """Evaluate (unless done) `models` (label -> folder; the first is the reference of the comparisons) at
    budgets 0 and unlimited on `rows` held-out rows a level of `data`, with `config`'s dial axes only for the
    labels in `dial`, into `out` (log: `out`.log); return the results (greedy unless `config` samples)."""
    results = out / "results.json"
    if not results.exists():
        argv = ["eval", "--config", config, "--data-config", data, "--budgets", "0,unlimited"]
        argv += ["--limit", str(8 * rows), "--jobs", "1", "--no-progress", "--out", str(out)]
        for label, path in models.items():
            argv += ["--model", f"{label}={path}", *(["--no-dial", label] if label not in dial else [])]
        run_command(argv, out.parent / f"{out.name}.log", cwd=ROOT)
    return load_results(results)


def evaluate(family: str, kind: str, seeds: list[int], out: Path) -> Results:
    """Evaluate (unless done) the start and its GRPO runs at budgets 0 and unlimited; return the results."""
    run = out / family / kind
    models = {"start": run / "sft", **{f"seed{s}": run / f"grpo-seed{s}" for s in seeds}}
    return eval_models(run / "eval", models, f"{FAMILIES[family]}/data.yaml")


def table(results: Results, seeds: list[int]) -> str:
    """Return the per-level markdown table of a start and its seeds: accuracy, forced-direct accuracy,
    reasoning tokens (and the oracle's) and direct rate."""
    start, runs = results.models["start"], [results.models[f"seed{s}"] for s in seeds]
    head = " | ".join(f"seed {s}: accuracy / tokens / direct rate" for s in seeds)
    lines = [
        f"| level | oracle tokens | start: accuracy / forced direct / tokens / direct rate | {head} |",
        "|---|---|---|" + "---|" * len(seeds),
    ]
    for lv in sorted(start.levels, key=float):
        s = start.levels[lv]
        cells = [
            f"{r.levels[lv].accuracy:.3f} / {r.levels[lv].reasoning_tokens_mean:.2f} / {r.levels[lv].direct_rate:.2f}"
            for r in runs
        ]
        lines.append(
            f"| {lv} | {s.min_reasoning_tokens_mean or 0:.1f} | {s.accuracy:.3f} / {s.accuracy_direct:.3f} / "
            f"{s.reasoning_tokens_mean:.2f} / {s.direct_rate:.2f} | " + " | ".join(cells) + " |"
        )
    return "\n".join(lines)


def seed_gates(results: Results, seed: int) -> list[Evidence]:
    """Return the gates of the GRPO run with `seed` against its start, before `decide`: `learned_start_checks`
    (paired accuracy tests from results.json's comparison) and the two-sided shift where the start is
    miscalibrated."""
    start, after = results.models["start"], results.models[f"seed{seed}"]
    comparison = results.comparisons.get(f"seed{seed}")
    paired = comparison.paired if comparison and comparison.reference == "start" else None
    return [*learned_start_checks(start, after, paired), *two_sided_checks(start, after)]


def print_report(starts: list[tuple[str, Results, Path]], seeds: list[int]) -> bool:
    """Print, per start (heading, results, folder with sft/ and grpo-seed*/), its SFT, the markdown table and
    every seed's gates, decided together (one false-fail rate for the whole run): how many PASS, and the
    FAILs and close calls with their numbers; return whether all passed."""
    gates = {(name, seed): seed_gates(results, seed) for name, results, _ in starts for seed in seeds}
    decided = iter(decide([g for key in gates for g in gates[key]]))
    passed = True
    for name, results, folder in starts:
        heldout = json.loads((folder / "sft" / "heldout.json").read_text())
        kept = next(v for v in heldout["validations"] if v["step"] == heldout["kept_step"])
        print(
            f"\n### {name}\n\nSFT: {heldout['validations'][-1]['step']} steps ({heldout['stopped']}); kept "
            f"step {kept['step']}, held-out accuracy {kept['accuracy']:.3f}\n\n{table(results, seeds)}\n"
        )
        for seed in seeds:
            checks = [next(decided) for _ in gates[(name, seed)]]
            selection = json.loads((folder / f"grpo-seed{seed}" / "selection.json").read_text())
            print(
                f"seed {seed}: {sum(c.passed for c in checks)}/{len(checks)} gates PASS (checkpoint selection "
                f"kept step {selection['kept_step']})"
            )
            for c in checks:
                if c.close or not c.passed:
                    print(f"- [{'PASS, close call' if c.passed else 'FAIL'}] {c.name}: {c.detail}")
            passed &= all(c.passed for c in checks)
            print()
    return passed


def main() -> int:
    """Train and evaluate every family, kind and seed, print the tables and checks; return 0 when all PASS."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--families", nargs="+", default=list(FAMILIES), choices=list(FAMILIES))
    ap.add_argument("--kinds", nargs="+", default=list(KINDS), choices=list(KINDS))
    ap.add_argument("--seeds", nargs="+", type=int, default=[0, 1])
    ap.add_argument("--jobs", type=int, default=2, help="runs at a time (one CPU thread each)")
    ap.add_argument("--out", default="runs/generality")
    args = ap.parse_args()
    out = (ROOT / args.out) if not Path(args.out).is_absolute() else Path(args.out)
    starts = [(f, k) for f in args.families for k in args.kinds]
    with ThreadPoolExecutor(args.jobs) as pool:
        list(pool.map(lambda start: sft(*start, out), starts))
        list(pool.map(lambda job: grpo(*job, out), [(f, k, s) for f, k in starts for s in args.seeds]))
        results = list(pool.map(lambda start: evaluate(*start, args.seeds, out), starts))
    named = [(f"{f}, {k} start", r, out / f / k) for (f, k), r in zip(starts, results, strict=True)]
    passed = print_report(named, args.seeds)
    print("every gate PASSes" if passed else "some gates FAIL")
    return 0 if passed else 1


if __name__ == "__main__":
    sys.exit(main())
