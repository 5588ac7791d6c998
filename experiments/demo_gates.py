"""The demo's gates over seeds and numerics: how often would `make demo` fail where the method works?

    .venv/bin/python experiments/demo_gates.py [--out runs/demo_gates] [--seeds 0 1 2 3] [--threads 1 2]

Per numerics setting (torch threads per process, which changes the floating-point reduction order: a
stand-in for another machine), it runs the demo's stages with that many threads: the SFT start (threads 1:
the demo's two one-thread processes; else one process), GRPO per seed (threads 1: two seeds side by side,
as the demo; else one at a time), one eval of the start and every seed. Then the demo's gates
(pipeline/gates.py) per seed, decided as the demo decides two seeds (its false-fail rate shared by the
gates of two runs). Finished stages are skipped. Prints, per setting and seed, the failed gates and the
close calls, and the dial's gap to forcing per requested budget with its paired standard error: the spread
that sets `DIAL_TOLERANCE` (docs/results/gates.md).
"""

from __future__ import annotations

import argparse
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from thinkdial.eval.schema import load_results
from thinkdial.pipeline.demo import eval_stage, grpo_stage, run_gates, seed_label, sft_launch, sft_stage
from thinkdial.pipeline.gates import decide, paired_se
from thinkdial.pipeline.run import run_command

DEMO_SEEDS = 2  # the demo decides the gates of two seeds together


def train(out: Path, seeds: list[int], threads: int) -> None:
    """Run (unless done) the SFT start and every GRPO seed with `threads` torch threads per process."""
    argv, marker = sft_stage(out)
    if not marker.exists():
        how = sft_launch(argv) if threads == 1 else {"args": [*argv, "--cpu_threads", str(threads)]}
        run_command(**how, log=out / "sft.log")
    todo = [s for s in seeds if not grpo_stage(out, s)[1].exists()]

    def grpo(seed: int) -> None:
        args = [*grpo_stage(out, seed)[0], "--cpu_threads", str(threads)]
        run_command(args, out / f"grpo-{seed_label(seed)}.log")

    with ThreadPoolExecutor(max_workers=2 if threads == 1 else 1) as pool:
        list(pool.map(grpo, todo))


def evaluate(out: Path, seeds: list[int]) -> None:
    """Evaluate (unless done) the start and every seed with the demo's eval."""
    argv, marker = eval_stage(out, seeds)
    if not marker.exists():
        run_command(argv, out / "eval.log")


def report(out: Path, seeds: list[int], threads: int) -> list[str]:
    """Return the markdown rows of one numerics setting: per seed, the failed gates, the close calls and the
    dial's gap to forcing (points, paired SE) per requested budget."""
    results = load_results(out / "eval" / "results.json")
    rows = []
    for pair in [seeds[i : i + DEMO_SEEDS] for i in range(0, len(seeds), DEMO_SEEDS)]:
        gates = {seed: run_gates(out, seed, results) for seed in pair}
        decided = iter(decide([g for seed in pair for g in gates[seed]]))
        for seed in pair:
            checks = [next(decided) for _ in gates[seed]]
            dial = results.models[seed_label(seed)].dial.requested
            gaps = " / ".join(
                f"{(m.accuracy - m.forcing_accuracy) * 100:+.1f} "
                f"({paired_se(m.dial_only_correct, m.forcing_only_correct, m.n) * 100:.1f})"
                for m in dial.values()
            )
            failed = "; ".join(c.name for c in checks if not c.passed) or "none"
            close = "; ".join(c.name for c in checks if c.close) or "none"
            rows.append(f"| {threads} | {seed} | {failed} | {close} | {gaps} |")
    return rows


def main() -> int:
    """Train, evaluate and gate every setting and seed; print the table; return 0."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default="runs/demo_gates", help="run folder (one subfolder per setting)")
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2, 3], help="GRPO seeds")
    parser.add_argument("--threads", type=int, nargs="+", default=[1, 2], help="torch threads settings")
    args = parser.parse_args()
    budgets = None
    rows = []
    for threads in args.threads:
        out = Path(args.out) / f"threads{threads}"
        train(out, args.seeds, threads)
        evaluate(out, args.seeds)
        rows += report(out, args.seeds, threads)
        budgets = budgets or list(
            load_results(out / "eval" / "results.json").models[seed_label(args.seeds[0])].dial.requested
        )
    print(
        f"| threads | seed | failed gates | close calls | dial - forcing at B = {' / '.join(budgets)}, pt (SE) |"
    )
    print("|---|---|---|---|---|")
    print("\n".join(rows))
    return 0


if __name__ == "__main__":
    sys.exit(main())
