"""Step-time overhead of `thinkdial grpo` over a plain TRL GRPOTrainer script, measured in one run.

    .venv/bin/python bench/step_overhead.py [--steps 12] [--warmup-steps 2]

Both sides train the same embedded tiny model (built once), on the same rows, with the same reward
functions and GRPO settings, in separate processes, alternating thinkdial / plain / thinkdial / plain
so a neighbour's load hits both alike. Each gets one torch thread (OMP_NUM_THREADS=1): two threads on
two shared cores stall generation by an order of magnitude (measured 6.3 vs 0.11 s/step), which would
swamp any overhead. Seconds per step are TRL's own `step_time` log (generation, rewards, loss and
backward of one optimizer step); the first `--warmup-steps` of each run are dropped.
Prints both medians and their ratio (target <= 1.10).
"""

from __future__ import annotations

import argparse
import ast
import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
RECIPE = "configs/tiny/grpo.yaml"
REWARDS = "configs/rewards/adaptive.yaml"
SETTINGS = {  # shared by both sides; the GRPO settings of a short tiny run
    "per_device_train_batch_size": 16, "num_generations": 4, "max_completion_length": 16,
    "learning_rate": 2e-4, "beta": 0.0, "loss_type": "dapo", "scale_rewards": "group", "temperature": 1.0,
    "logging_steps": 1, "save_strategy": "no", "report_to": "none", "bf16": False, "gradient_checkpointing": False,
    "disable_tqdm": True, "seed": 0,
}
TRAIN_ROWS = 256


def plain_trl(model_path: str, output_dir: str, steps: int) -> None:
    """Train with a bare GRPOTrainer: no thinkdial config, recipe, callbacks or wrappers."""
    from thinkdial.data.config import load_data_config
    from thinkdial.data.sources import build_dataset
    from thinkdial.rewards.config import load_reward_config
    from thinkdial.rewards.registry import build_reward_funcs
    from transformers import AutoModelForCausalLM
    from trl import GRPOConfig, GRPOTrainer

    from thinkdial.models import load_tokenizer

    data_config = load_data_config(ROOT / "configs/tiny/grpo_data.yaml")
    dataset = build_dataset(data_config, "train", TRAIN_ROWS)
    tokenizer = load_tokenizer(model_path)
    funcs, weights = build_reward_funcs(load_reward_config(ROOT / REWARDS), tokenizer)
    args = GRPOConfig(output_dir=output_dir, max_steps=steps, reward_weights=weights, **SETTINGS)
    model = AutoModelForCausalLM.from_pretrained(model_path)
    GRPOTrainer(model=model, reward_funcs=funcs, args=args, train_dataset=dataset, processing_class=tokenizer).train()


def step_times(output: str, warmup_steps: int) -> list[float]:
    """Return the `step_time` values of the log dicts printed in `output`, after the first warmup_steps."""
    logs = [ast.literal_eval(line) for line in output.splitlines() if line.startswith("{") and "'step_time'" in line]
    return [float(log["step_time"]) for log in logs][warmup_steps:]


def run(cmd: list[str]) -> str:
    """Run `cmd` in the repo root; return its stdout + stderr (thinkdial logs on stderr; raises with the stderr
    tail on failure)."""
    result = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, env={**os.environ, "OMP_NUM_THREADS": "1"})
    if result.returncode:
        raise RuntimeError(f"{' '.join(cmd[:4])} ... failed:\n{result.stderr[-3000:]}")
    return result.stdout + result.stderr


def main() -> int:
    """Run both sides twice, print the medians and the ratio; return 0."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--steps", type=int, default=12, help="optimizer steps per run")
    parser.add_argument("--warmup-steps", type=int, default=2, help="first steps of each run left out")
    parser.add_argument("--rounds", type=int, default=2, help="thinkdial/plain pairs run alternately")
    parser.add_argument("--plain", nargs=2, metavar=("MODEL", "OUT"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.plain:
        plain_trl(*args.plain, args.steps)
        return 0
    times = {"thinkdial": [], "plain": []}
    with tempfile.TemporaryDirectory() as tmp:
        overrides = [f"--{k}={v}" for k, v in SETTINGS.items()]
        for i in range(args.rounds):
            out = f"{tmp}/thinkdial{i}"
            times["thinkdial"] += step_times(run([
                sys.executable, "-m", "thinkdial", "grpo", "--config", RECIPE, "--model_name_or_path", "tiny",
                "--reward_config", REWARDS, "--output_dir", out, "--max_steps", str(args.steps),
                "--train_limit", str(TRAIN_ROWS), *overrides]), args.warmup_steps)
            times["plain"] += step_times(run([
                sys.executable, __file__, "--steps", str(args.steps), "--plain", f"{tmp}/thinkdial0/init",
                f"{tmp}/plain{i}"]), args.warmup_steps)
    medians = {k: statistics.median(v) for k, v in times.items()}
    print(f"median s/step over {len(times['plain'])} steps each: thinkdial grpo {medians['thinkdial']:.4f}  "
          f"plain TRL {medians['plain']:.4f}")
    print(f"ratio thinkdial / plain: {medians['thinkdial'] / medians['plain']:.3f} (target <= 1.10)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
