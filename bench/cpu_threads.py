"""Seconds per step of the tiny SFT and GRPO recipes per `cpu_threads`, idle and next to a competing process.

    .venv/bin/python bench/cpu_threads.py [--steps 10] [--warmup-steps 2] [--threads 1 2] [--rounds 1]

Each run is `thinkdial sft|grpo` on its tiny recipe (configs/tiny/*.yaml, the embedded model) in its
own process, one at a time. "busy" runs start a busy-loop Python process first (one core spinning, as a
second job or a neighbour would) and stop it after. Seconds per step are measured around each optimizer
step (TrainerCallback on_step_begin -> on_step_end: generation, rewards, forward and backward); the first
`--warmup-steps` are dropped. Prints the median s/step per (stage, threads, load), the busy / idle ratio
of each setting, and the load average before each run: the machine may be shared, so read the figures
against it.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
STAGE_ARGS = {  # the tiny recipes, trimmed to the rows a short run reads
    "sft": ["--config", "configs/tiny/sft.yaml", "--train_limit", "4096"],
    "grpo": ["--config", "configs/tiny/grpo.yaml", "--train_limit", "1024"],
}
COMMON_ARGS = [
    "--model_name_or_path",
    "tiny",
    "--save_strategy",
    "no",
    "--report_to",
    "none",
    "--disable_tqdm",
    "true",
    "--logging_steps",
    "1000",
]
BUSY_LOOP = "while True:\n    pass\n"


def worker(stage: str, argv: list[str]) -> None:
    """Train `stage` through its entry with a step timer; print the step seconds as JSON on stdout."""
    from transformers import TrainerCallback

    from thinkdial.train import grpo, sft
    from thinkdial.train.recipe import parse_recipe

    module = {"sft": sft, "grpo": grpo}[stage]
    config_cls = {"sft": sft.ThinkdialSFTConfig, "grpo": grpo.ThinkdialGRPOConfig}[stage]
    train = {"sft": sft.train_sft, "grpo": grpo.train_grpo}[stage]
    seconds: list[float] = []

    class StepTimer(TrainerCallback):
        def on_step_begin(self, args, state, control, **kwargs):
            self.start = time.perf_counter()

        def on_step_end(self, args, state, control, **kwargs):
            seconds.append(time.perf_counter() - self.start)

    train_and_save = module.train_and_save

    def timed_train_and_save(trainer, tokenizer, resume_from):
        trainer.add_callback(StepTimer())
        train_and_save(trainer, tokenizer, resume_from)

    module.train_and_save = timed_train_and_save
    train(parse_recipe(config_cls, argv))
    print(json.dumps(seconds))


def measure(stage: str, threads: int, busy: bool, steps: int, out: str) -> tuple[list[float], float]:
    """Return (seconds of each step, 1-minute load average before the run) of one run."""
    load = os.getloadavg()[0]
    spinner = subprocess.Popen([sys.executable, "-c", BUSY_LOOP]) if busy else None
    try:
        argv = [
            *STAGE_ARGS[stage],
            *COMMON_ARGS,
            "--max_steps",
            str(steps),
            "--cpu_threads",
            str(threads),
            "--output_dir",
            out,
        ]
        result = subprocess.run(
            [sys.executable, __file__, "--worker", stage, *argv],
            cwd=ROOT,
            capture_output=True,
            text=True,
            env={k: v for k, v in os.environ.items() if k != "OMP_NUM_THREADS"},
        )
    finally:
        if spinner is not None:
            spinner.kill()
            spinner.wait()
    if result.returncode:
        raise RuntimeError(f"{stage} cpu_threads={threads} failed:\n{result.stderr[-3000:]}")
    return json.loads(result.stdout.strip().splitlines()[-1]), load


def main() -> int:
    """Measure every (stage, threads, load) setting, print the medians and ratios; return 0."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--steps", type=int, default=10, help="optimizer steps per run")
    parser.add_argument("--warmup-steps", type=int, default=2, help="first steps of each run left out")
    parser.add_argument(
        "--threads", type=int, nargs="+", default=[1, 2], help="cpu_threads settings to compare"
    )
    parser.add_argument("--stages", nargs="+", default=["sft", "grpo"], choices=("sft", "grpo"))
    parser.add_argument("--rounds", type=int, default=1, help="passes over all settings (medians pool them)")
    parser.add_argument("--worker", nargs=argparse.REMAINDER, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        worker(args.worker[0], args.worker[1:])
        return 0
    print(
        f"machine: {os.cpu_count()} CPUs; 1-min load average at start {os.getloadavg()[0]:.2f} "
        "(other jobs on the machine count in it)",
        flush=True,
    )
    medians = {}
    with tempfile.TemporaryDirectory() as tmp:
        for stage in args.stages:
            for threads in args.threads:
                for busy in (False, True):
                    times, loads = [], []
                    for r in range(args.rounds):
                        step_seconds, load = measure(
                            stage, threads, busy, args.steps, f"{tmp}/{stage}{threads}{busy}{r}"
                        )
                        times += step_seconds[args.warmup_steps :]
                        loads.append(load)
                    medians[stage, threads, busy] = statistics.median(times)
                    print(
                        f"{stage:4} cpu_threads={threads} {'busy' if busy else 'idle'}: "
                        f"{medians[stage, threads, busy]:.3f} s/step (median of {len(times)} steps; load average "
                        f"before: {', '.join(f'{x:.2f}' for x in loads)})",
                        flush=True,
                    )
    for stage in args.stages:
        for threads in args.threads:
            idle, busy = medians[stage, threads, False], medians[stage, threads, True]
            print(f"{stage:4} cpu_threads={threads}: busy / idle = {busy / idle:.2f}")
        best = min(args.threads, key=lambda t: medians[stage, t, False])
        for threads in args.threads:
            print(
                f"{stage:4} busy s/step, cpu_threads={threads} / cpu_threads={best}: "
                f"{medians[stage, threads, True] / medians[stage, best, True]:.2f}"
            )
    return 0


if __name__ == "__main__":
    sys.exit(main())
